/**
 * pep (issue 14): user u0 has R contacts (u1 … uR, mutual 'both' subscriptions). u0 logs in
 * first; then a scout account (not a contact) and after it every contact send available
 * presence carrying XEP-0115 caps whose features include the node's `+notify`, and answer the
 * server's disco#info queries (all share one ver, so the server learns it once from the scout).
 * A warm-up publish checks that the server knows every contact's interest; then u0 publishes K
 * items to its PEP node (XEP-0163), keeping at most W publishes whose notification has not
 * reached every contact yet. Reports notifications delivered/s (R per publish), p50/p99 time
 * from a publish to its last notification, and server CPU seconds per 1,000 notifications.
 *
 * Why the owner logs in first: Prosody's mod_pep learns a contact's caps only from presence
 * addressed to the owner's bare JID (a contact's broadcast), not from the answers to the
 * owner's probes (sent to its full JID); Canto's caps module learns from presence reaching a
 * user with a session. A contact coming online while the owner is online is what both learn
 * from, and it is what happens in real life all day.
 */
import { computeVer, type DiscoInfo } from '../../src/modules/caps/verification.js';
import { BenchClient } from '../load/client.js';
import { Latencies, nowMs, round, sleep } from '../load/stats.js';
import { cpuSeconds } from '../servers/proc.js';
import type { RunningServer } from '../servers/types.js';
import { closeAll, loginMany } from './connect.js';
import { GeneratorClock, type Scenario, type ScenarioResult } from './types.js';

export interface PepParams extends Record<string, number> {
  contacts: number;
  publishes: number;
  window: number;
  maxSeconds: number;
}

/** The PEP node published to: User Tune (XEP-0118), a node real clients publish and subscribe to. */
export const PEP_NODE = 'http://jabber.org/protocol/tune';
const NS_CAPS = 'http://jabber.org/protocol/caps';
const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';

/**
 * What every contact's client says it is: the disco#info answer its caps `ver` is the hash of.
 * A small client: disco, caps, and interest in the tune node (XEP-0163 §4: `<node>+notify`).
 */
export const BENCH_CLIENT_INFO: DiscoInfo = {
  identities: [{ category: 'client', type: 'pc', lang: '', name: 'Canto bench' }],
  features: [NS_CAPS, NS_DISCO_INFO, PEP_NODE, `${PEP_NODE}+notify`],
  forms: [],
};
export const BENCH_CAPS_NODE = 'https://canto.im/bench';
/** XEP-0115 §5 sha-1 ver of BENCH_CLIENT_INFO (the same code Canto verifies with). */
export const BENCH_CAPS_VER = computeVer(BENCH_CLIENT_INFO, 'sha-1');

/** The available presence every contact sends: its caps, nothing else. */
export const CAPS_PRESENCE = `<presence><c xmlns='${NS_CAPS}' hash='sha-1' node='${BENCH_CAPS_NODE}' ver='${BENCH_CAPS_VER}'/></presence>`;

/** The <query/> of the disco#info answer (identities and features exactly as hashed). */
const DISCO_QUERY_BODY =
  BENCH_CLIENT_INFO.identities.map((i) => `<identity category='${i.category}' type='${i.type}' name='${i.name}'/>`).join('') +
  BENCH_CLIENT_INFO.features.map((f) => `<feature var='${f}'/>`).join('');

/** An attribute of the opening tag of a stanza (raw, entities left as they are), or undefined. */
export function attrOf(stanza: string, name: string): string | undefined {
  const end = stanza.indexOf('>');
  const head = end === -1 ? stanza : stanza.slice(0, end);
  const m = new RegExp(`\\s${name}=(["'])(.*?)\\1`).exec(head);
  return m?.[2];
}

/** An attribute value for output in double quotes: the raw value may hold a '"' when it was in single quotes. */
const quoted = (raw: string) => `"${raw.replace(/"/g, '&quot;')}"`;

/**
 * The answer to an iq a bench client received: disco#info (on any node) gets BENCH_CLIENT_INFO
 * with the node echoed, any other get or set `service-unavailable` (RFC 6120 §8.4), results and
 * errors nothing. `undefined` when no answer is due.
 */
export function iqAnswer(iq: string): string | undefined {
  const type = attrOf(iq, 'type');
  if (type !== 'get' && type !== 'set') return undefined;
  const id = attrOf(iq, 'id') ?? '';
  const from = attrOf(iq, 'from');
  const to = from === undefined ? '' : ` to=${quoted(from)}`;
  const query = /<query\s[^>]*>|<query\s[^>]*\/>/.exec(iq)?.[0];
  if (type === 'get' && query !== undefined && query.includes(NS_DISCO_INFO)) {
    const node = attrOf(query, 'node');
    return `<iq type='result' id=${quoted(id)}${to}><query xmlns='${NS_DISCO_INFO}'${node === undefined ? '' : ` node=${quoted(node)}`}>${DISCO_QUERY_BODY}</query></iq>`;
  }
  return `<iq type='error' id=${quoted(id)}${to}><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`;
}

/** The publish of item `id` with a User Tune payload (a typical small PEP item, ~250 bytes). */
function publishIq(id: string, n: number): string {
  return (
    `<iq type='set' id='${id}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${PEP_NODE}'><item id='${id}'>` +
    `<tune xmlns='${PEP_NODE}'><artist>The Benchmarks</artist><length>${180 + (n % 120)}</length><source>Loopback Sessions</source>` +
    `<title>Track ${n}</title><track>${n}</track></tune></item></publish></pubsub></iq>`
  );
}

/** The item id of a pubsub#event notification (`<items><item id/>`), or undefined for anything else. */
const EVENT_ITEM = /<item\s[^>]*?\bid=(["'])(.*?)\1/;

/** Wait until `cond()`, a failure or the deadline; false on timeout. */
async function until(cond: () => boolean, ms: number, failure: () => string | undefined): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    const f = failure();
    if (f !== undefined) throw new Error(f);
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** Warm-up publishes tried before giving up, and how long each waits for every contact. */
const WARMUP_ATTEMPTS = 5;
const WARMUP_WAIT_MS = 6000;

/** One timed publish on its way: when it was sent, and which contacts have its notification. */
interface InFlight {
  sentAt: number;
  got: Uint8Array;
  count: number;
}

export const pepScenario: Scenario<PepParams> = {
  name: 'pep',
  description: 'one user with R online +notify contacts publishes to a PEP node repeatedly',
  sizes: {
    tiny: [{ contacts: 3, publishes: 5, window: 2, maxSeconds: 20 }],
    small: [{ contacts: 500, publishes: 200, window: 4, maxSeconds: 120 }],
    // 500 contacts is the issue's row; 2,000 as in fanout's full size shows how it scales.
    full: [
      { contacts: 500, publishes: 1000, window: 4, maxSeconds: 300 },
      { contacts: 2000, publishes: 500, window: 4, maxSeconds: 300 },
    ],
  },
  // u0 the owner, u1 … uR its contacts, u(R+1) the scout.
  setup: (p) => ({ accounts: p.contacts + 2, fanoutContacts: p.contacts, pep: true }),
  async run(server: RunningServer, p: PepParams): Promise<ScenarioResult> {
    const R = p.contacts;
    let owner: BenchClient | undefined;
    let contacts: BenchClient[] = [];
    let scout: BenchClient | undefined;
    try {
      // The owner first (see the header): it sends no caps, so it gets no notifications itself.
      const ownerClient = await BenchClient.login({ port: server.port, domain: server.domain, username: server.username(0), password: server.password, presence: true, resource: 'owner' });
      owner = ownerClient;
      let failure: string | undefined;
      const acked = new Set<string>();
      ownerClient.listen((stanza) => {
        if (!stanza.startsWith('<iq')) return; // the contacts' presence and anything else: not measured
        const type = attrOf(stanza, 'type');
        if (type === 'result') acked.add(attrOf(stanza, 'id') ?? '');
        else if (type === 'error') failure ??= `the server refused a publish (is PEP on?): ${stanza.slice(0, 400)}`;
        else {
          const answer = iqAnswer(stanza);
          if (answer !== undefined) ownerClient.send(answer);
        }
      });

      contacts = await loginMany(server, 1, R, { presence: false, deadlineMs: 120_000 });
      let discoQueries = 0;
      let warmCount = 0;
      const warmGot = new Uint8Array(R);
      const inFlight = new Map<number, InFlight>();
      let sent = 0;
      let completed = 0;
      let deliveries = 0;
      let duplicates = 0;
      const latencies = new Latencies();
      let onComplete: (() => void) | undefined;
      const ownerBare = `${server.username(0)}@${server.domain}`;

      const notified = (k: number, itemId: string) => {
        if (k < 0) return; // the scout is no contact: nothing to count
        if (itemId.startsWith('w')) {
          if (warmGot[k] === 0) {
            warmGot[k] = 1;
            warmCount++;
          }
          return;
        }
        const i = Number(itemId.slice(1));
        const f = inFlight.get(i);
        if (f === undefined || f.got[k] === 1) {
          if (i < sent) duplicates++; // already complete, or this contact had it: counted, not timed
          return;
        }
        f.got[k] = 1;
        f.count++;
        deliveries++;
        if (f.count === R) {
          inFlight.delete(i);
          latencies.add(nowMs() - f.sentAt);
          completed++;
          onComplete?.();
        }
      };
      const listen = (c: BenchClient, k: number) => {
        c.listen((stanza) => {
          if (stanza.startsWith('<message')) {
            // A PEP notification: headline from the owner's bare JID with a pubsub#event <items>.
            if (!stanza.includes('pubsub#event') || attrOf(stanza, 'from') !== ownerBare) return;
            const id = EVENT_ITEM.exec(stanza)?.[2];
            if (id !== undefined) notified(k, id);
          } else if (stanza.startsWith('<iq')) {
            const answer = iqAnswer(stanza);
            if (answer === undefined) return;
            if (answer.includes(NS_DISCO_INFO)) discoQueries++;
            c.send(answer);
          }
        });
      };
      contacts.forEach(listen);
      // A scout first: u(R+1), in nobody's roster, announces the same caps and answers the
      // query about them, so both servers know the ver before the contacts announce it, as for
      // any client in common use (the contacts then cost no query). Done by a contact, Prosody
      // would also take the answer about the contact's own caps as news for the contact's
      // roster and add the contact's bare JID as a second recipient of u0's notifications
      // (mod_pep's "fiddle with other local users"): every notification twice to that contact.
      scout = await BenchClient.login({ port: server.port, domain: server.domain, username: server.username(R + 1), password: server.password, resource: 'scout' });
      listen(scout, -1);
      scout.send(CAPS_PRESENCE);
      if (!(await until(() => discoQueries > 0, 5000, () => failure))) {
        throw new Error('the server never asked the scout for its caps (disco#info): caps handling off?');
      }
      await sleep(200); // the server verifies and caches the answer
      for (const c of contacts) c.send(CAPS_PRESENCE);

      // Warm-up: the server learns every contact's +notify asynchronously (a disco#info query
      // per ver or per JID). A contact counts once it has any warm-up notification (a late one
      // may also come as the last published item when its caps get verified).
      for (let attempt = 0; attempt < WARMUP_ATTEMPTS && warmCount < R; attempt++) {
        const id = `w${attempt}`;
        ownerClient.send(publishIq(id, attempt));
        if (!(await until(() => acked.has(id), WARMUP_WAIT_MS, () => failure))) {
          throw new Error(`the server did not answer the warm-up publish within ${WARMUP_WAIT_MS} ms`);
        }
        await until(() => warmCount >= R, WARMUP_WAIT_MS, () => failure);
      }
      if (warmCount < R) {
        throw new Error(
          `not all contacts got the warm-up notification: ${warmCount} of ${R} after ${WARMUP_ATTEMPTS} publishes ` +
            `(${discoQueries} disco#info queries answered; caps or +notify filtering broken?)`,
        );
      }
      await sleep(300); // let notifications of earlier warm-up attempts drain

      const cpu0 = cpuSeconds(server.pid);
      const clock = new GeneratorClock();
      const start = nowMs();
      const publish = () => {
        const i = sent++;
        inFlight.set(i, { sentAt: nowMs(), got: new Uint8Array(R), count: 0 });
        ownerClient.send(publishIq(`p${i}`, i));
      };
      const allDone = new Promise<void>((resolve) => {
        onComplete = () => {
          if (completed >= p.publishes) resolve();
          else if (sent < p.publishes) publish();
        };
      });
      for (let w = 0; w < Math.min(p.window, p.publishes); w++) publish();
      let timer: NodeJS.Timeout | undefined;
      let poll: NodeJS.Timeout | undefined;
      // A refused publish never completes: stop at once rather than at the time limit.
      const refused = new Promise<void>((resolve) => (poll = setInterval(() => failure !== undefined && resolve(), 50)));
      await Promise.race([allDone, refused, new Promise<void>((resolve) => (timer = setTimeout(resolve, p.maxSeconds * 1000)))]);
      clearTimeout(timer);
      clearInterval(poll);
      if (failure !== undefined) throw new Error(failure);
      const seconds = (nowMs() - start) / 1000;
      const serverCpu = cpuSeconds(server.pid) - cpu0;
      const notes: string[] = [];
      if (completed < p.publishes) notes.push(`time limit: ${completed} of ${p.publishes} publishes reached every contact`);
      if (duplicates > 0) notes.push(`${duplicates} notifications arrived twice at the same contact (not counted)`);
      return {
        scenario: 'pep',
        server: server.name,
        params: p,
        metrics: [
          { name: 'notifications/s', value: round(deliveries / seconds), unit: '1/s', better: 'higher' },
          { name: 'publish to last p50', value: round(latencies.quantile(0.5), 2), unit: 'ms', better: 'lower' },
          { name: 'publish to last p99', value: round(latencies.quantile(0.99), 2), unit: 'ms', better: 'lower' },
          { name: 'server CPU per 1k notifications', value: round((serverCpu / Math.max(1, deliveries)) * 1000, 4), unit: 's', better: 'lower' },
          // How the server learnt the contacts' interest: per ver (Canto, once) or per JID.
          { name: 'disco#info queries', value: discoQueries, unit: 'count', better: 'lower' },
        ],
        generator: clock.read(),
        notes,
      };
    } finally {
      owner?.close();
      scout?.close();
      closeAll(contacts);
    }
  },
};
