/**
 * A raw TCP client for byte-level protocol tests: send exact bytes, wait for patterns in
 * what comes back, and observe the server closing the connection.
 */
import { connect, type Socket } from 'node:net';

export class RawClient {
  received = '';
  closed = false;
  private readonly socket: Socket;
  private waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.received += d;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Wait until `test` holds for what was received (or the connection closed), at most `ms`. */
  async waitFor(test: RegExp | ((r: string) => boolean), ms = 5000): Promise<string> {
    const ok = () => (typeof test === 'function' ? test(this.received) : test.test(this.received));
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (this.closed) throw new Error(`connection closed before ${String(test)}; received: ${this.received}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${String(test)}; received: ${this.received}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.received;
  }

  /** Wait for the server to close the TCP connection. */
  async waitClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open; received: ${this.received}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export function clientHeader(to = 'localhost', extra = ''): string {
  return `<?xml version='1.0'?><stream:stream to='${to}' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'${extra}>`;
}
