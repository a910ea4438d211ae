/** A raw SASL2 (XEP-0388) client over RawTlsClient: SCRAM with inline requests, and FAST (HT-*) logins. */
import { createHmac } from 'node:crypto';
import { RawTlsClient, ScramClient } from './scram-client.js';

export const SASL2 = 'urn:xmpp:sasl:2';
export const FAST = 'urn:xmpp:fast:0';

export interface Sasl2Answer {
  kind: 'success' | 'failure' | 'challenge';
  /** The whole element's text. */
  xml: string;
  condition?: string;
  token?: string;
}

const ANSWER = /<(success|failure|challenge) xmlns=['"]urn:xmpp:sasl:2['"](?:\/>|>[\s\S]*?<\/\1>)/;

export async function nextSasl2(c: RawTlsClient): Promise<Sasl2Answer> {
  const m = await c.next(ANSWER);
  const xml = m[0];
  const kind = m[1] as Sasl2Answer['kind'];
  const out: Sasl2Answer = { kind, xml };
  if (kind === 'failure') out.condition = /<([a-z-]+) xmlns=['"]urn:ietf:params:xml:ns:xmpp-sasl['"]/.exec(xml)?.[1];
  const token = /<token [^>]*token=['"]([^'"]+)['"]/.exec(xml)?.[1];
  if (token !== undefined) out.token = token;
  return out;
}

const ua = (id: string) => `<user-agent id='${id}'><software>raw</software><device>test</device></user-agent>`;

/** SCRAM over SASL2; `inline` is appended to <authenticate/> (e.g. a <request-token/>). */
export async function sasl2Scram(c: RawTlsClient, mechanism: string, client: ScramClient, uaId: string, inline = ''): Promise<{ final: Sasl2Answer; serverFirst: string | undefined }> {
  c.send(`<authenticate xmlns='${SASL2}' mechanism='${mechanism}'><initial-response>${Buffer.from(client.first()).toString('base64')}</initial-response>${ua(uaId)}${inline}</authenticate>`);
  const first = await nextSasl2(c);
  if (first.kind !== 'challenge') return { final: first, serverFirst: undefined };
  const serverFirst = Buffer.from(/>([^<]*)</.exec(first.xml)?.[1] ?? '', 'base64').toString('utf8');
  c.send(`<response xmlns='${SASL2}'>${Buffer.from(client.final(serverFirst)).toString('base64')}</response>`);
  return { final: await nextSasl2(c), serverFirst };
}

/** A FAST login: `authcid NUL HMAC(token, "Initiator" || cbData)`. */
export async function fastLogin(
  c: RawTlsClient,
  opts: { mechanism?: string; username: string; token: string; uaId: string; count?: number; cbData?: Buffer; extra?: string },
): Promise<Sasl2Answer> {
  const proof = createHmac('sha256', opts.token).update(Buffer.concat([Buffer.from('Initiator'), opts.cbData ?? Buffer.alloc(0)])).digest();
  const message = Buffer.concat([Buffer.from(opts.username), Buffer.from([0]), proof]);
  const count = opts.count === undefined ? '' : ` count='${opts.count}'`;
  c.send(`<authenticate xmlns='${SASL2}' mechanism='${opts.mechanism ?? 'HT-SHA-256-NONE'}'><initial-response>${message.toString('base64')}</initial-response>${ua(opts.uaId)}<fast xmlns='${FAST}'${count}/>${opts.extra ?? ''}</authenticate>`);
  return nextSasl2(c);
}

/** A connected, STARTTLS'd raw client and the features of the encrypted stream. */
export async function tlsClient(port: number, localAddress?: string): Promise<{ c: RawTlsClient; features: string }> {
  const c = await RawTlsClient.connect(port, localAddress);
  await c.open();
  const features = await c.startTls({ minVersion: 'TLSv1.3' });
  return { c, features };
}
