/**
 * A raw WebSocket client for byte-level RFC 7395 tests: send exact messages, wait for messages
 * matching a pattern, observe the close. Also `wsUrl()` for the test server's endpoint.
 */
import { WebSocket } from 'ws';
import type { TestServer } from './server.js';
import { Wakeup } from '../../src/testing/wakeup.js';

export const NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing';

export function wsUrl(ts: TestServer, path = '/xmpp-websocket'): string {
  return `ws://127.0.0.1:${ts.server.port('http')}${path}`;
}

export function openFrame(to = 'localhost', extra = ''): string {
  return `<open xmlns='${NS_FRAMING}' to='${to}' version='1.0'${extra}/>`;
}

export class WsClient {
  readonly messages: string[] = [];
  closed = false;
  closeCode: number | undefined;
  private readonly wakeup = new Wakeup();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.messages.push(isBinary ? `<binary ${String(data)}>` : String(data));
      this.wakeup.wake();
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      this.wakeup.wake();
    });
    ws.on('error', () => {});
  }

  static connect(url: string, opts: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, opts.protocols ?? ['xmpp'], { headers: opts.headers });
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
  }

  send(text: string): void {
    this.ws.send(text);
  }

  /** Wait for a message matching `test` (searching all received so far); returns it. */
  waitFor(test: RegExp, ms = 5000): Promise<string> {
    return this.wakeup.until(
      () => {
        const hit = this.messages.find((m) => test.test(m));
        if (hit !== undefined) return hit;
        if (this.closed) throw new Error(`closed before ${String(test)}; received:\n${this.messages.join('\n')}`);
        return undefined;
      },
      ms,
      () => new Error(`timed out waiting for ${String(test)}; received:\n${this.messages.join('\n')}`),
    );
  }

  async waitClosed(ms = 5000): Promise<void> {
    await this.wakeup.until(() => (this.closed ? true : undefined), ms, () => new Error(`still open; received:\n${this.messages.join('\n')}`));
  }

  close(): void {
    this.ws.terminate();
  }
}
