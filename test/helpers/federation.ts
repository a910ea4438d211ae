/**
 * The federation exchange the interop tests run against a real peer (Prosody, ejabberd, another
 * Canto): a message each way, a ping to the other server's domain each way, a subscription
 * handshake each way with available presence seen on both sides, and a presence change.
 */
import assert from 'node:assert/strict';
import { xml, type LoggedInClient, type XElement } from './xmpp-client.js';

export interface FederationPeers {
  /** A client on Canto and its domain. */
  local: LoggedInClient;
  localDomain: string;
  localJid: string;
  /** A client on the peer server and its domain. */
  remote: LoggedInClient;
  remoteDomain: string;
  remoteJid: string;
}

const isPresence = (type: string | undefined, from: string) => (s: XElement) => s.is('presence') && s.attrs.type === type && (s.attrs.from ?? '').startsWith(from);
const bare = (jid: string) => jid.split('/')[0] ?? jid;

/** The whole exchange; `timeout` per step (the first stanza each way waits for TLS and authentication). */
export async function exerciseFederation(p: FederationPeers, timeout = 15_000): Promise<void> {
  const { local, remote } = p;
  const T = timeout;
  // Fetch the rosters first, as real clients do: only "interested" resources get subscription
  // approvals and roster pushes (RFC 6121 §3.1.6), and Prosody enforces that.
  await local.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await remote.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await local.send(xml('presence'));
  await remote.send(xml('presence'));

  // Messages both ways.
  await local.send(xml('message', { to: p.remoteJid, type: 'chat', id: 'm1' }, xml('body', {}, 'hello from Canto')));
  const m1 = await remote.waitFor((s) => s.is('message') && s.attrs.id === 'm1', T);
  assert.equal(m1.attrs.from, p.localJid);
  assert.equal(m1.getChildText('body'), 'hello from Canto');
  await remote.send(xml('message', { to: p.localJid, type: 'chat', id: 'm2' }, xml('body', {}, 'hello from the peer')));
  const m2 = await local.waitFor((s) => s.is('message') && s.attrs.id === 'm2', T);
  assert.equal(m2.attrs.from, p.remoteJid);
  assert.equal(m2.getChildText('body'), 'hello from the peer');

  // Pings to the other server's domain, both ways.
  const p1 = await local.iq(xml('iq', { type: 'get', to: p.remoteDomain, id: 'ping1' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), T);
  assert.equal(p1.attrs.from, p.remoteDomain);
  const p2 = await remote.iq(xml('iq', { type: 'get', to: p.localDomain, id: 'ping2' }, xml('ping', { xmlns: 'urn:xmpp:ping' })), T);
  assert.equal(p2.attrs.from, p.localDomain);

  // The local user subscribes: the peer delivers the request, Canto delivers the approval and
  // then the remote user's available presence.
  const localBare = bare(p.localJid);
  const remoteBare = bare(p.remoteJid);
  await local.send(xml('presence', { to: remoteBare, type: 'subscribe' }));
  const req1 = await remote.waitFor(isPresence('subscribe', localBare), T);
  assert.equal(req1.attrs.from, localBare);
  await remote.send(xml('presence', { to: localBare, type: 'subscribed' }));
  const ok1 = await local.waitFor(isPresence('subscribed', remoteBare), T);
  assert.equal(ok1.attrs.from, remoteBare);
  const seen1 = await local.waitFor(isPresence(undefined, p.remoteJid), T);
  assert.equal(seen1.attrs.from, p.remoteJid);

  // And the other way round.
  await remote.send(xml('presence', { to: localBare, type: 'subscribe' }));
  const req2 = await local.waitFor(isPresence('subscribe', remoteBare), T);
  assert.equal(req2.attrs.from, remoteBare);
  await local.send(xml('presence', { to: remoteBare, type: 'subscribed' }));
  const ok2 = await remote.waitFor(isPresence('subscribed', localBare), T);
  assert.equal(ok2.attrs.from, localBare);
  const seen2 = await remote.waitFor(isPresence(undefined, p.localJid), T);
  assert.equal(seen2.attrs.from, p.localJid);

  // A presence change now reaches the contact across the federation.
  await remote.send(xml('presence', {}, xml('show', {}, 'away')));
  const away = await local.waitFor((s) => isPresence(undefined, p.remoteJid)(s) && s.getChildText('show') === 'away', T);
  assert.equal(away.getChildText('show'), 'away');
}
