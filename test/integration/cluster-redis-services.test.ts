/**
 * The Redis-backed cluster beyond one-to-one traffic (docs/scaling.md): three real `canto start`
 * nodes on 127.0.0.2–4 sharing one private redis-server and one PostgreSQL database, real
 * @xmpp/client clients. PEP notifications to a contact on another node (`+notify` learned from
 * caps), carbons between a user's resources on two nodes, a MUC room with occupants on every
 * node (join, presence, message fan-out) owned by one node by lease and reached from the others,
 * and the take-over of the rooms by a survivor after `kill -9` of their owner (persistent state
 * from PostgreSQL; the dead node's occupants are gone; a survivor's occupant sees its self-ping
 * fail and rejoins). A pubsub component placed the same way (a node and item made through one
 * node, the notification to a subscriber on another; after `kill -9` of its owner a survivor
 * serves the stored node and items), and an XEP-0114 component (@xmpp/component) connected to one
 * node: reached from clients on the others, the sender's error while no node holds it, a second
 * connection on another node refused, served again after it reconnects elsewhere, and after
 * `kill -9` of its node; with `kick_old` (two more nodes) a second connection on another node
 * takes the domain and the first is closed with conflict.
 */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCanto } from '../helpers/cli.js';
import { tempDir, type TestServer } from '../helpers/server.js';
import { errorCondition, loginClient, xml, type LoggedInClient, type XElement } from '../helpers/xmpp-client.js';
import { RawClient } from '../helpers/raw-client.js';
import { createHash } from 'node:crypto';
import { redisTest, startRedis, type RedisInstance } from '../helpers/redis-server.js';
import { bare, befriend, isPresenceFrom } from '../helpers/cluster-clients.js';
import { startNode, type CantoNode } from '../helpers/cluster-nodes.js';
import { openPostgresStorage } from '../../src/storage/postgres.js';
import { silentLogger } from '../../src/core/logging.js';
import { startPostgres, type PostgresInstance } from '../helpers/postgres.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { computeVer, parseDiscoInfo } from '../../src/modules/caps/verification.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { waitFor } from '../../src/testing/index.js';

const PASSWORD = 'pw';
const USERS = ['ann', 'ben', 'cat', 'dan', 'eve', 'fay'];
const MUC = 'conference.localhost';
const PUBSUB = 'pubsub.localhost';
const COMPONENT = 'comp.localhost';
const COMPONENT_SECRET = 'cluster component secret';
const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const NS_CARBONS = 'urn:xmpp:carbons:2';
const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_NICK = 'http://jabber.org/protocol/nick';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';

let redis: RedisInstance | undefined;
/** The config lines every node of the file shares (storage, components). */
let sharedExtra = '';
let postgres: PostgresInstance | undefined;
let dir = '';
const nodes: CantoNode[] = [];
const clients: LoggedInClient[] = [];
const components: XmppComponent[] = [];
const raws: RawClient[] = [];

const clusterTest = (name: string, fn: () => Promise<void>): void => redisTest(name, () => redis, fn);

async function login(node: CantoNode, user: string, resource: string): Promise<LoggedInClient> {
  const c = await loginClient({} as TestServer, user, PASSWORD, resource, { service: node.service });
  clients.push(c);
  return c;
}

/** Logged in, roster requested, available. */
async function online(node: CantoNode, user: string, resource: string): Promise<LoggedInClient> {
  const c = await login(node, user, resource);
  await c.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await c.send(xml('presence'));
  return c;
}



/** Available presence with caps whose features include `features`; answers the server's disco#info query for them. */
async function announceCaps(c: LoggedInClient, name: string, features: string[]): Promise<void> {
  const info = xml('query', { xmlns: NS_DISCO_INFO },
    xml('identity', { category: 'client', type: 'pc', name }),
    ...[NS_CAPS, NS_DISCO_INFO, ...features].map((f) => xml('feature', { var: f })));
  const ver = computeVer(parseDiscoInfo(parseXmlFragment(info.toString())), 'sha-1');
  const node = 'https://example.org/cluster-test';
  c.xmpp.on('stanza', (s: XElement) => {
    if (s.is('iq') && s.attrs.type === 'get' && s.getChild('query', NS_DISCO_INFO)?.attrs.node === `${node}#${ver}`) {
      const answer = xml('query', { xmlns: NS_DISCO_INFO, node: `${node}#${ver}` }, ...info.children.filter((x): x is XElement => typeof x !== 'string'));
      void c.send(xml('iq', { type: 'result', id: s.attrs.id, to: s.attrs.from }, answer));
    }
  });
  await c.send(xml('presence', {}, xml('c', { xmlns: NS_CAPS, hash: 'sha-1', node, ver })));
}

const groupchat = (room: string, id: string, body: string) => xml('message', { to: room, type: 'groupchat', id }, xml('body', {}, body));
const isGroupchat = (id: string) => (s: XElement) => s.is('message') && s.attrs.type === 'groupchat' && s.attrs.id === id;
const selfPresence = (room: string, nick: string) => (s: XElement) =>
  s.is('presence') && s.attrs.from === `${room}/${nick}` && s.attrs.type === undefined
  && (s.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).some((st) => st.attrs.code === '110');

async function joinRoom(c: LoggedInClient, room: string, nick: string): Promise<XElement> {
  await c.send(xml('presence', { to: `${room}/${nick}` }, xml('x', { xmlns: NS_MUC })));
  return c.waitFor(selfPresence(room, nick), 15_000);
}

before(async () => {
  redis = await startRedis();
  if (!redis) return;
  dir = tempDir('canto-redis-services-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  postgres = await startPostgres();
  const url = await postgres.createDatabase('services');
  const extra = `[storage]\ndriver = "postgres"\nurl = "${url}"\n[[component]]\ndomain = "${MUC}"\nmodule = "muc"\n`
    + `[[component]]\ndomain = "${PUBSUB}"\nmodule = "pubsub"\n[[component]]\ndomain = "${COMPONENT}"\nsecret = "${COMPONENT_SECRET}"\n`;
  const storage = await openPostgresStorage({ url }, silentLogger());
  for (const u of USERS) await storage.accounts.create('localhost', u, makeCredentials(PASSWORD, { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }));
  await storage.close();
  sharedExtra = extra;
  for (const [i, address] of ['127.0.0.2', '127.0.0.3', '127.0.0.4'].entries()) {
    nodes.push(await startNode({ nodeId: `s${i + 1}`, address, dir, dataDir, redisUrl: redis.url, extra, componentListener: true }));
  }
});

after(async () => {
  for (const c of components) await c.stop().catch(() => undefined);
  for (const r of raws) r.close();
  for (const c of clients) await c.stop().catch(() => undefined);
  for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.kill('SIGKILL');
  await redis?.stop();
  await postgres?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

clusterTest('PEP: a contact on another node gets the event of a nickname publish (+notify from caps)', async () => {
  const [n1, n2] = nodes as [CantoNode, CantoNode, CantoNode];
  const ann = await online(n1, 'ann', 'pep');
  const ben = await online(n2, 'ben', 'pep');
  await befriend(ann, ben);
  await announceCaps(ben, 'ben-client', [`${NS_NICK}+notify`]);
  await ann.waitFor((s) => isPresenceFrom(ben.jid)(s) && s.getChild('c', NS_CAPS) !== undefined, 10_000);
  // The caps of ben (on n2) become known to ann's node (n1) through his presence: publish until
  // one event reaches ben (a publish before that is notified to nobody, as on one node).
  let event: XElement | undefined;
  await waitFor(async () => {
    const id = `v${Date.now()}`;
    await ann.iq(xml('iq', { type: 'set' }, xml('pubsub', { xmlns: NS_PUBSUB },
      xml('publish', { node: NS_NICK }, xml('item', { id }, xml('nick', { xmlns: NS_NICK }, `Ann ${id}`))))));
    event = await ben.waitFor((s) => s.is('message') && s.attrs.from === bare(ann) && s.getChild('event', NS_EVENT)?.getChild('items')?.attrs.node === NS_NICK, 1000).catch(() => undefined);
    return event !== undefined;
  }, { timeoutMs: 15_000, intervalMs: 10, message: 'ben on n2 got a PEP event for ann\'s nick published on n1' });
  assert.match(event?.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.getChild('nick', NS_NICK)?.getText() ?? '', /^Ann v\d+$/);
  await ann.stop();
  await ben.stop();
});

clusterTest('carbons: a user\'s resources on two nodes get copies of each other\'s and received messages', async () => {
  const [n1, n2, n3] = nodes as [CantoNode, CantoNode, CantoNode];
  const cat1 = await online(n1, 'cat', 'one');
  const cat2 = await online(n2, 'cat', 'two');
  for (const c of [cat1, cat2]) await c.iq(xml('iq', { type: 'set' }, xml('enable', { xmlns: NS_CARBONS })));
  const dan = await online(n3, 'dan', 'r');
  // cat2 (n2) learns cat1's binding with its carbons flag through the registry.
  const received = (s: XElement, id: string) => s.is('message') && s.getChild('received', NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message')?.attrs.id === id;
  const sent = (s: XElement, id: string) => s.is('message') && s.getChild('sent', NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message')?.attrs.id === id;
  await dan.send(xml('message', { to: cat1.jid, type: 'chat', id: 'to-cat1' }, xml('body', {}, 'hi cat one')));
  await cat1.waitFor((s) => s.is('message') && s.attrs.id === 'to-cat1', 10_000);
  const copy = await cat2.waitFor((s) => received(s, 'to-cat1'), 10_000);
  assert.equal(copy.attrs.from, bare(cat2));
  await cat2.send(xml('message', { to: dan.jid, type: 'chat', id: 'from-cat2' }, xml('body', {}, 'hi dan')));
  await dan.waitFor((s) => s.is('message') && s.attrs.id === 'from-cat2', 10_000);
  const sentCopy = await cat1.waitFor((s) => sent(s, 'from-cat2'), 10_000);
  assert.equal(sentCopy.getChild('sent', NS_CARBONS)?.getChild('forwarded', NS_FORWARD)?.getChild('message')?.attrs.to, dan.jid);
  // Disabled on one node: no more copies to it.
  await cat2.iq(xml('iq', { type: 'set' }, xml('disable', { xmlns: NS_CARBONS })));
  await dan.send(xml('message', { to: cat1.jid, type: 'chat', id: 'after-disable' }, xml('body', {}, 'again')));
  await cat1.waitFor((s) => s.is('message') && s.attrs.id === 'after-disable', 10_000);
  assert.ok(await cat2.nothing((s) => received(s, 'after-disable'), 1000), 'no copy after <disable/>');
  for (const c of [cat1, cat2, dan]) await c.stop();
});

const ROOM = `lobby@${MUC}`;
const field = (v: string, value: string) => xml('field', { var: v }, xml('value', {}, value));
/** muc occupants of the room test: ann (s1), ben (s2), cat (s3). */
const occupants: LoggedInClient[] = [];

async function serviceOwner(): Promise<string> {
  let owner = '';
  await waitFor(async () => (owner = (await (redis as RedisInstance).cli('GET', `canto:owner:${MUC}`)).trim()) !== '', { timeoutMs: 10_000, intervalMs: 50, message: 'a node owns the MUC service' });
  return owner;
}

clusterTest('MUC: a room with occupants on all three nodes (join, presence, fan-out), served by the owner of the service lease', async () => {
  const [n1, n2, n3] = nodes as [CantoNode, CantoNode, CantoNode];
  assert.match(await serviceOwner(), /^s\d#/);
  const ann = await online(n1, 'ann', 'muc');
  const ben = await online(n2, 'ben', 'muc');
  const cat = await online(n3, 'cat', 'muc');
  occupants.push(ann, ben, cat);
  const created = await joinRoom(ann, ROOM, 'ann');
  assert.ok(created.getChild('x', NS_MUC_USER)?.getChildren('status').some((st) => st.attrs.code === '201'), 'the room was created');
  await ann.iq(xml('iq', { type: 'set', to: ROOM }, xml('query', { xmlns: NS_MUC_OWNER },
    xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
      field('FORM_TYPE', 'http://jabber.org/protocol/muc#roomconfig'),
      field('muc#roomconfig_roomname', 'The Lobby'),
      field('muc#roomconfig_persistentroom', '1')))));
  await joinRoom(ben, ROOM, 'ben');
  await ann.waitFor(isPresenceFrom(`${ROOM}/ben`), 10_000);
  const catSelf = await joinRoom(cat, ROOM, 'cat');
  assert.ok(!(catSelf.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).some((st) => st.attrs.code === '201'), 'one room, not one per node');
  for (const nick of ['ann', 'ben']) await cat.waitFor(isPresenceFrom(`${ROOM}/${nick}`), 10_000);
  for (const c of [ann, ben]) await c.waitFor(isPresenceFrom(`${ROOM}/cat`), 10_000);

  await ben.send(groupchat(ROOM, 'g1', 'hello room'));
  for (const c of [ann, ben, cat]) {
    const m = await c.waitFor(isGroupchat('g1'), 10_000);
    assert.equal(m.attrs.from, `${ROOM}/ben`);
    assert.equal(m.getChildText('body'), 'hello room');
  }
  // Presence changes fan out too; disco#info from any node is answered by the one service.
  await cat.send(xml('presence', { to: `${ROOM}/cat` }, xml('show', {}, 'away')));
  assert.equal((await ann.waitFor((s) => isPresenceFrom(`${ROOM}/cat`)(s) && s.getChildText('show') === 'away', 10_000)).getChildText('show'), 'away');
  const info = await cat.iq(xml('iq', { type: 'get', to: ROOM }, xml('query', { xmlns: NS_DISCO_INFO })));
  assert.equal(info.getChild('query')?.getChild('identity')?.attrs.name, 'The Lobby');
  // canto cluster status names the node serving the domain.
  const status = await runCanto(['cluster', 'status', '--json', '--config', n1.configFile], { timeoutMs: 20_000 });
  const serving = (JSON.parse(status.stdout) as Array<{ nodeId: string; incarnation: string; services: string[] }>).filter((m) => m.services.includes(MUC));
  assert.deepEqual(serving.map((m) => `${m.nodeId}#${m.incarnation}`), [await serviceOwner()]);
});

clusterTest('MUC: a dead node\'s occupants leave; kill -9 of the owner: a survivor takes the service with the rooms from PostgreSQL, occupants self-ping and rejoin', async () => {
  assert.equal(occupants.length, 3, 'needs the room of the previous test');
  const owner = await serviceOwner();
  const ownerIndex = nodes.findIndex((n) => owner.startsWith(`${n.nodeId}#`));
  assert.ok(ownerIndex >= 0, owner);
  const others = [0, 1, 2].filter((i) => i !== ownerIndex);
  const [firstDead, survivor] = others as [number, number];
  const nick = (i: number) => ['ann', 'ben', 'cat'][i] ?? '';
  const survivorClient = occupants[survivor] as LoggedInClient;

  // A node that is not the owner dies: the owner removes its occupant (unavailable to the others).
  (nodes[firstDead] as CantoNode).kill('SIGKILL');
  await survivorClient.waitFor(isPresenceFrom(`${ROOM}/${nick(firstDead)}`, 'unavailable'), 15_000);

  // The owner dies: the survivor takes the service over within the lease.
  const ownerNode = nodes[ownerIndex] as CantoNode;
  const survivorNode = nodes[survivor] as CantoNode;
  ownerNode.kill('SIGKILL');
  await ownerNode.exited;
  await survivorNode.waitForLine((l) => l.msg === 'serving this MUC domain on this cluster node: rooms loaded from storage' && l.owned === true && Number(l.rooms) >= 1, 15_000);
  assert.match(await serviceOwner(), new RegExp(`^${survivorNode.nodeId}#`));

  // XEP-0410: the occupant's self-ping now fails (not an occupant of the room any more) …
  const ping = await survivorClient.iq(xml('iq', { type: 'get', to: `${ROOM}/${nick(survivor)}` }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 10_000).then(
    () => undefined,
    (err: unknown) => (err as { stanza?: XElement }).stanza,
  );
  assert.equal(errorCondition(ping), 'not-acceptable');
  // … so it joins again: the persistent room is there (not created anew) with its configuration,
  // and nobody of the dead nodes is in it.
  const self = await joinRoom(survivorClient, ROOM, nick(survivor));
  assert.ok(!(self.getChild('x', NS_MUC_USER)?.getChildren('status') ?? []).some((st) => st.attrs.code === '201'), 'the stored room, not a new one');
  const info = await survivorClient.iq(xml('iq', { type: 'get', to: ROOM }, xml('query', { xmlns: NS_DISCO_INFO })));
  assert.equal(info.getChild('query')?.getChild('identity')?.attrs.name, 'The Lobby');
  const items = await survivorClient.iq(xml('iq', { type: 'get', to: ROOM }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#items' })));
  const present = (items.getChild('query')?.getChildren('item') ?? []).map((i) => i.attrs.name ?? i.attrs.jid);
  assert.deepEqual(present.filter((n) => n !== undefined && !String(n).endsWith(`/${nick(survivor)}`) && n !== nick(survivor)), [], `only the survivor is in the room: ${present.join(', ')}`);
  // A newcomer on the survivor joins and talks with it.
  const dan = await online(survivorNode, 'dan', 'muc');
  await joinRoom(dan, ROOM, 'dan');
  await dan.send(groupchat(ROOM, 'g2', 'after the take-over'));
  await survivorClient.waitFor(isGroupchat('g2'), 10_000);
});

// ───────────────────────── pubsub and external components ─────────────────────────

/** Start the nodes the MUC tests killed again (new incarnations of the same node ids). */
async function allUp(): Promise<void> {
  for (const n of nodes) {
    if (n.child.exitCode !== null || n.child.signalCode !== null) await n.restart();
  }
}

async function ownerOf(domain: string, not?: string): Promise<string> {
  let owner = '';
  await waitFor(async () => {
    owner = (await (redis as RedisInstance).cli('GET', `canto:owner:${domain}`)).trim();
    return owner !== '' && owner !== not;
  }, { timeoutMs: 15_000, intervalMs: 50, message: `a live node owns ${domain}` });
  return owner;
}

const nodeOf = (member: string): CantoNode => {
  const n = nodes.find((x) => member.startsWith(`${x.nodeId}#`));
  assert.ok(n, member);
  return n;
};

const psIq = (type: 'get' | 'set', ...children: XElement[]) => xml('iq', { type, to: PUBSUB }, xml('pubsub', { xmlns: NS_PUBSUB }, ...children));
const isEventItem = (node: string, id: string) => (s: XElement) =>
  s.is('message') && s.attrs.from === PUBSUB && s.getChild('event', NS_EVENT)?.getChild('items')?.attrs.node === node
  && s.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.attrs.id === id;
const publish = (node: string, id: string, text: string) => psIq('set', xml('publish', { node }, xml('item', { id }, xml('entry', { xmlns: 'urn:example:news' }, text))));
const PS_NODE = 'cluster-news';
/** The publisher and the subscriber of the pubsub tests, on the two nodes that did not own the service. */
const psClients: { eve?: LoggedInClient; fay?: LoggedInClient } = {};

clusterTest('pubsub: a node and an item made through one node, the notification reaches a subscriber on another; the owner of the service lease serves it', async () => {
  await allUp();
  const owner = await ownerOf(PUBSUB);
  const [a, b] = nodes.filter((n) => !owner.startsWith(`${n.nodeId}#`)) as [CantoNode, CantoNode];
  const eve = await online(a, 'eve', 'ps');
  const fay = await online(b, 'fay', 'ps');
  Object.assign(psClients, { eve, fay });
  await eve.iq(psIq('set', xml('create', { node: PS_NODE })));
  const sub = await fay.iq(psIq('set', xml('subscribe', { node: PS_NODE, jid: bare(fay) })));
  assert.equal(sub.getChild('pubsub', NS_PUBSUB)?.getChild('subscription')?.attrs.subscription, 'subscribed');
  await eve.iq(publish(PS_NODE, 'i1', 'first'));
  const event = await fay.waitFor(isEventItem(PS_NODE, 'i1'), 10_000);
  assert.equal(event.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.getChildText('entry'), 'first');
  // One service: the node and its item are seen alike from every node, and the owner did not change.
  const items = await fay.iq(psIq('get', xml('items', { node: PS_NODE })));
  assert.deepEqual(items.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item').map((i) => i.attrs.id), ['i1']);
  const ownerClient = await online(nodeOf(owner), 'dan', 'ps');
  const info = await ownerClient.iq(xml('iq', { type: 'get', to: PUBSUB }, xml('query', { xmlns: NS_DISCO_INFO, node: PS_NODE })));
  assert.equal(info.getChild('query')?.getChild('identity')?.attrs.type, 'leaf');
  await ownerClient.stop();
  assert.equal(await ownerOf(PUBSUB), owner);
  // canto cluster status lists the pubsub domain under its owner.
  const status = await runCanto(['cluster', 'status', '--json', '--config', a.configFile], { timeoutMs: 20_000 });
  const serving = (JSON.parse(status.stdout) as Array<{ nodeId: string; incarnation: string; services: string[] }>).filter((m) => m.services.includes(PUBSUB));
  assert.deepEqual(serving.map((m) => `${m.nodeId}#${m.incarnation}`), [owner]);
});

clusterTest('pubsub: kill -9 of the owner: a survivor serves the same node, items and subscription from PostgreSQL', async () => {
  const { eve, fay } = psClients;
  assert.ok(eve && fay, 'needs the node of the previous test');
  const owner = await ownerOf(PUBSUB);
  const ownerNode = nodeOf(owner);
  ownerNode.kill('SIGKILL');
  await ownerNode.exited;
  // The next request (or heartbeat) of a survivor takes the service once the dead owner's lease ran out.
  const items = await eve.iq(psIq('get', xml('items', { node: PS_NODE })), 20_000);
  assert.deepEqual(items.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item').map((i) => i.attrs.id), ['i1']);
  const next = await ownerOf(PUBSUB, owner);
  assert.notEqual(nodeOf(next), ownerNode);
  await nodeOf(next).waitForLine((l) => l.msg === 'serving this pubsub domain on this cluster node: nodes read from storage' && Number(l.nodes) >= 1, 15_000);
  // The stored subscription still gets notifications, and the new owner keeps the item order.
  await eve.iq(publish(PS_NODE, 'i2', 'second'));
  const event = await fay.waitFor(isEventItem(PS_NODE, 'i2'), 10_000);
  assert.equal(event.getChild('event', NS_EVENT)?.getChild('items')?.getChild('item')?.getChildText('entry'), 'second');
  const after = await fay.iq(psIq('get', xml('items', { node: PS_NODE })));
  assert.deepEqual(after.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.getChildren('item').map((i) => i.attrs.id), ['i2', 'i1']);
  await eve.stop();
  await fay.stop();
});

// ---- @xmpp/component, typed for what these tests use (the package ships no declarations) ----
interface XmppComponent {
  start(): Promise<unknown>;
  stop(): Promise<unknown>;
  send(el: XElement): Promise<void>;
  on(event: 'stanza', listener: (el: XElement) => void): void;
  on(event: 'error', listener: (err: Error & { condition?: string }) => void): void;
  reconnect: { stop(): void };
}
interface XmppComponentModule {
  component(options: { service: string; domain: string; password: string }): XmppComponent;
}
// A non-literal specifier keeps tsc from looking for the missing declarations.
const XMPP_COMPONENT_PACKAGE = '@xmpp/component';

/** @xmpp/component connected to `node`: answers every message with an echo and every ping iq with a result. */
async function echoComponent(node: CantoNode, domain = COMPONENT): Promise<XmppComponent> {
  const { component } = (await import(XMPP_COMPONENT_PACKAGE)) as XmppComponentModule;
  const comp = component({ service: `xmpp://${node.address}:${node.componentPort ?? 0}`, domain, password: COMPONENT_SECRET });
  comp.reconnect.stop();
  comp.on('error', () => undefined);
  comp.on('stanza', (el) => {
    if (el.is('message') && el.attrs.type !== 'error') {
      void comp.send(xml('message', { from: domain, to: el.attrs.from, type: 'chat', id: `echo-${el.attrs.id ?? ''}` }, xml('body', {}, `echo from ${node.nodeId}: ${el.getChildText('body') ?? ''}`)));
    } else if (el.is('iq') && el.attrs.type === 'get' && el.getChild('ping', 'urn:xmpp:ping')) {
      void comp.send(xml('iq', { from: domain, to: el.attrs.from, type: 'result', id: el.attrs.id }));
    }
  });
  components.push(comp);
  await comp.start();
  return comp;
}

const chat = (id: string, body: string, to = COMPONENT) => xml('message', { to, type: 'chat', id }, xml('body', {}, body));
const isEcho = (id: string, from = COMPONENT) => (s: XElement) => s.is('message') && s.attrs.from === from && s.attrs.id === `echo-${id}`;
const ping = () => xml('iq', { type: 'get', to: COMPONENT }, xml('ping', { xmlns: 'urn:xmpp:ping' }));

async function heldBy(domain = COMPONENT): Promise<string> {
  return (await (redis as RedisInstance).cli('GET', `canto:owner:${domain}`)).trim();
}

clusterTest('external component: connected to one node, reached from clients on the others; a second connection on another node gets conflict; disconnected: service-unavailable; reconnected elsewhere: served again', async () => {
  await allUp();
  const [n1, n2, n3] = nodes as [CantoNode, CantoNode, CantoNode];
  const ann = await online(n1, 'ann', 'comp');
  const cat = await online(n3, 'cat', 'comp');

  const comp = await echoComponent(n2);
  await waitFor(async () => (await heldBy()).startsWith(`${n2.nodeId}#`), { timeoutMs: 5000, intervalMs: 20, message: 'n2 holds the component domain' });
  await ann.send(chat('m1', 'hello component'));
  const echo = await ann.waitFor(isEcho('m1'), 10_000);
  assert.equal(echo.getChildText('body'), `echo from ${n2.nodeId}: hello component`);
  assert.equal(echo.attrs.to, ann.jid);
  await cat.iq(ping(), 10_000);

  // refuse_new (the default) across nodes: a second connection on n3 is refused; the first goes on.
  const r = await RawClient.connect(n3.componentPort ?? 0, n3.address);
  raws.push(r);
  r.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${COMPONENT}'>`);
  const header = await r.waitFor(/<stream:stream [^>]*id='([^']+)'[^>]*>/);
  const streamId = /id='([^']+)'/.exec(header)?.[1] ?? '';
  r.send(`<handshake>${createHash('sha1').update(streamId + COMPONENT_SECRET, 'utf8').digest('hex')}</handshake>`);
  await r.waitFor(/<\/stream:stream>/);
  assert.match(r.received, /<stream:error><conflict xmlns="urn:ietf:params:xml:ns:xmpp-streams"/);
  assert.ok(!r.received.includes('<handshake/>'), r.received);
  await r.waitClosed();
  assert.ok((await heldBy()).startsWith(`${n2.nodeId}#`), 'n2 still holds the domain');
  await ann.send(chat('m2', 'still there?'));
  await ann.waitFor(isEcho('m2'), 10_000);

  // The component disconnects: n2 gives the domain up; senders get what one node answers.
  await comp.stop();
  await waitFor(async () => (await heldBy()) === '', { timeoutMs: 10_000, intervalMs: 20, message: 'n2 released the component domain' });
  const refused = await ann.iq(ping(), 10_000).then(() => undefined, (err: { stanza?: XElement }) => err.stanza);
  assert.equal(errorCondition(refused), 'service-unavailable');
  await cat.send(chat('m3', 'anyone?'));
  const bounced = await cat.waitFor((s) => s.is('message') && s.attrs.type === 'error' && s.attrs.id === 'm3', 10_000);
  assert.equal(errorCondition(bounced), 'service-unavailable');
  assert.equal(bounced.attrs.from, COMPONENT);

  // It reconnects to n1: every node routes to n1 now.
  await echoComponent(n1);
  await waitFor(async () => (await heldBy()).startsWith(`${n1.nodeId}#`), { timeoutMs: 5000, intervalMs: 20, message: 'n1 holds the component domain' });
  await cat.send(chat('m4', 'back?'));
  assert.equal((await cat.waitFor(isEcho('m4'), 10_000)).getChildText('body'), `echo from ${n1.nodeId}: back?`);
  await ann.send(chat('m5', 'local now'));
  await ann.waitFor(isEcho('m5'), 10_000);
  const status = await runCanto(['cluster', 'status', '--json', '--config', n1.configFile], { timeoutMs: 20_000 });
  const serving = (JSON.parse(status.stdout) as Array<{ nodeId: string; services: string[] }>).filter((m) => m.services.includes(COMPONENT));
  assert.deepEqual(serving.map((m) => m.nodeId), [n1.nodeId]);
});

clusterTest('external component: its iq to the pubsub service served by another node is answered by that node, the reply routed back to the component', async () => {
  await allUp();
  const owner = nodeOf(await ownerOf(PUBSUB));
  // The component moves to a node that does not serve pubsub.
  for (const c of components.splice(0)) await c.stop().catch(() => undefined);
  await waitFor(async () => (await heldBy()) === '', { timeoutMs: 10_000, intervalMs: 20, message: 'the component domain was released' });
  const at = nodes.find((n) => n !== owner) as CantoNode;
  const comp = await echoComponent(at);
  await waitFor(async () => (await heldBy()).startsWith(`${at.nodeId}#`), { timeoutMs: 5000, intervalMs: 20, message: `${at.nodeId} holds the component domain` });
  const answers: XElement[] = [];
  comp.on('stanza', (el) => {
    if (el.is('iq') && el.attrs.id === 'comp-disco') answers.push(el);
  });
  await comp.send(xml('iq', { type: 'get', id: 'comp-disco', from: COMPONENT, to: PUBSUB }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
  await waitFor(() => answers.length > 0, { timeoutMs: 10_000, intervalMs: 20, message: 'the pubsub service answered the component' });
  const reply = answers[0] as XElement;
  assert.equal(reply.attrs.type, 'result', reply.toString());
  assert.equal(reply.attrs.from, PUBSUB);
  assert.equal(reply.attrs.to, COMPONENT);
  const identity = reply.getChild('query', 'http://jabber.org/protocol/disco#info')?.getChild('identity');
  assert.equal(identity?.attrs.category, 'pubsub');
  assert.equal(answers.length, 1, 'one answer, from the owner only');
});

clusterTest('external component: kill -9 of the node holding it; it reconnects to a survivor (refused while the dead holder\'s lease lasts) and is served from every node', async () => {
  const holder = await heldBy();
  assert.ok(holder !== '', 'needs the component of the previous test');
  const dead = nodeOf(holder);
  const [survivor, other] = nodes.filter((n) => n !== dead) as [CantoNode, CantoNode];
  const ben = await online(other, 'ben', 'comp-after');
  dead.kill('SIGKILL');
  await dead.exited;
  // The component's reconnect (as its back-off would): conflict until the dead node's lease ran out.
  await waitFor(async () => echoComponent(survivor).then(() => true, () => false), { timeoutMs: 20_000, intervalMs: 250, message: 'the component reconnected to a survivor' });
  assert.ok((await heldBy()).startsWith(`${survivor.nodeId}#`));
  await ben.send(chat('m6', 'after the crash'));
  assert.equal((await ben.waitFor(isEcho('m6'), 10_000)).getChildText('body'), `echo from ${survivor.nodeId}: after the crash`);
});

const KICK = 'kick.localhost';

clusterTest('external component, on_conflict = "kick_old" across nodes: a connection on another node takes the domain; the old one is closed with conflict', async () => {
  // Two more nodes whose component module replaces (the others keep refuse_new for comp.localhost).
  const extra = `${sharedExtra}[[component]]\ndomain = "${KICK}"\nsecret = "${COMPONENT_SECRET}"\n[modules.component]\non_conflict = "kick_old"\n`;
  const spec = { dir, dataDir: join(dir, 'data'), redisUrl: (redis as RedisInstance).url, extra, componentListener: true };
  const n4 = await startNode({ ...spec, nodeId: 's4', address: '127.0.0.5' });
  nodes.push(n4);
  const n5 = await startNode({ ...spec, nodeId: 's5', address: '127.0.0.6' });
  nodes.push(n5);
  const eve = await online(n4, 'eve', 'kick');
  const old = await echoComponent(n4, KICK);
  const oldErrors: Array<string | undefined> = [];
  old.on('error', (err) => oldErrors.push(err.condition));
  await waitFor(async () => (await heldBy(KICK)).startsWith('s4#'), { timeoutMs: 5000, intervalMs: 20, message: 's4 holds the domain' });
  await eve.send(chat('k1', 'first', KICK));
  assert.equal((await eve.waitFor(isEcho('k1', KICK), 10_000)).getChildText('body'), 'echo from s4: first');

  await echoComponent(n5, KICK);
  assert.ok((await heldBy(KICK)).startsWith('s5#'), 'the new connection\'s node holds the domain at once');
  // s4's next renewal fails: it closes its connection (within a heartbeat).
  await waitFor(() => oldErrors.includes('conflict'), { timeoutMs: 10_000, intervalMs: 20, message: `the old connection got conflict (errors: ${oldErrors.join(', ')})` });
  await n4.waitForLine((l) => l.msg === 'closing the external component\'s connection: this node no longer holds its domain' && l.service === KICK, 5000);
  await eve.send(chat('k2', 'second', KICK));
  assert.equal((await eve.waitFor(isEcho('k2', KICK), 10_000)).getChildText('body'), 'echo from s5: second');
  assert.ok((await heldBy(KICK)).startsWith('s5#'));
});
