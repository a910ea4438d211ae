/** A plain HTTP request to a server on loopback whose answer is read whole and parsed as JSON when it is JSON. */
import { request } from 'node:http';

export interface JsonReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON; undefined when empty or not JSON. */
  json: unknown;
}

/** Send `payload` (if any; Content-Length is set, Content-Type defaults to JSON) with `headers`. */
export function httpJson(port: number, method: string, path: string, headers: Record<string, string>, payload?: string | Buffer): Promise<JsonReply> {
  const all: Record<string, string> = { ...headers };
  if (payload !== undefined) {
    all['Content-Type'] ??= 'application/json';
    all['Content-Length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: all }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}
