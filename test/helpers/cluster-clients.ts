/** Client steps the cluster tests share (test/integration/cluster-redis*.test.ts). */
import { waitFor } from '../../src/testing/index.js';
import { xml, type LoggedInClient, type XElement } from './xmpp-client.js';

export const bare = (c: LoggedInClient): string => c.jid.split('/')[0] ?? '';
export const isPresenceFrom = (from: string, type?: string) => (s: XElement): boolean => s.is('presence') && s.attrs.from === from && s.attrs.type === type;

/**
 * a and b subscribe to each other (both interested and available). a's node learns of b's binding
 * on another node through the registry: until then b counts as offline there and the request would
 * wait in offline storage, so first wait until a's node routes a ping to b.
 */
export async function befriend(a: LoggedInClient, b: LoggedInClient): Promise<void> {
  await waitFor(async () => a.iq(xml('iq', { type: 'get', to: b.jid }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 2000).then(() => true, () => false), { timeoutMs: 10_000, intervalMs: 100, message: `${a.jid}'s node routes to ${b.jid}` });
  await a.send(xml('presence', { type: 'subscribe', to: bare(b) }));
  await b.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === bare(a), 10_000);
  await b.send(xml('presence', { type: 'subscribed', to: bare(a) }));
  await a.waitFor(isPresenceFrom(b.jid), 10_000);
  await b.send(xml('presence', { type: 'subscribe', to: bare(a) }));
  await a.waitFor((s) => s.is('presence') && s.attrs.type === 'subscribe' && s.attrs.from === bare(b), 10_000);
  await a.send(xml('presence', { type: 'subscribed', to: bare(b) }));
  await b.waitFor(isPresenceFrom(a.jid), 10_000);
}
