/**
 * A raw TCP client for byte-level protocol tests: send exact bytes, wait for patterns in
 * what comes back, and observe the server closing the connection.
 */
import { connect, type Socket } from 'node:net';
import { Wakeup } from '../../src/testing/wakeup.js';

export class RawClient {
  received = '';
  closed = false;
  private readonly socket: Socket;
  private readonly wakeup = new Wakeup();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.received += d;
      this.wakeup.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wakeup.wake();
    });
    socket.on('error', () => {});
  }

  /** `localAddress`: the address to connect from (another loopback address, e.g. 127.0.0.9). */
  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, ...(localAddress !== undefined ? { localAddress } : {}) }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Wait until `test` holds for what was received (or the connection closed), at most `ms`. */
  waitFor(test: RegExp | ((r: string) => boolean), ms = 5000): Promise<string> {
    const ok = () => (typeof test === 'function' ? test(this.received) : test.test(this.received));
    return this.wakeup.until(
      () => {
        if (ok()) return this.received;
        if (this.closed) throw new Error(`connection closed before ${String(test)}; received: ${this.received}`);
        return undefined;
      },
      ms,
      () => new Error(`timed out waiting for ${String(test)}; received: ${this.received}`),
    );
  }

  /** Wait for the server to close the TCP connection. */
  async waitClosed(ms = 5000): Promise<void> {
    await this.wakeup.until(() => (this.closed ? true : undefined), ms, () => new Error(`connection still open; received: ${this.received}`));
  }

  close(): void {
    this.socket.destroy();
  }
}

export function clientHeader(to = 'localhost', extra = ''): string {
  return `<?xml version='1.0'?><stream:stream to='${to}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'${extra}>`;
}
