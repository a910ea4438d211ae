/**
 * The metrics the core registers on every server (docs/metrics.md): stream sessions by type and
 * transport, server-to-server streams by direction and state, bound resources by host (read
 * when scraped); stanzas routed, received and sent by kind, and the router's error replies by
 * condition (counted as plain numbers on the hot paths and read when scraped).
 */
import type { Server } from './server.js';
import type { StreamSession } from './session.js';
import type { StanzaErrorCondition } from '../xml/stanza.js';

export type StanzaCounts = Record<'message' | 'presence' | 'iq', number>;

/** The peers stanzas come from and go to, as the stanza counters label them. */
export type StanzaPeer = 'c2s' | 's2s' | 'component';

export interface CoreMetrics {
  /**
   * Stanzas routed by kind, counted by Router.routeFrom as plain numbers (the per-message path
   * pays an increment, not a label lookup) and read into the counter when scraped.
   */
  readonly stanzasRouted: StanzaCounts;
  /** Stanzas received from peers (after the session's in filters), by the kind of session. */
  readonly stanzasIn: Record<StanzaPeer, StanzaCounts>;
  /** Stanzas written to peers (after the session's out filters), by the kind of session. */
  readonly stanzasOut: Record<StanzaPeer, StanzaCounts>;
  /** Error replies the router made for stanzas it could not deliver, by condition. */
  readonly routingErrors: Map<StanzaErrorCondition, number>;
}

const SESSION_TYPES: ReadonlyArray<StreamSession['type']> = ['c2s_unauthed', 'c2s', 's2s_unauthed', 's2s', 'component'];
const TRANSPORTS: ReadonlyArray<StreamSession['conn']['transport']> = ['tcp', 'websocket', 'bosh', 'internal'];
const PEERS: readonly StanzaPeer[] = ['c2s', 's2s', 'component'];

function zeroCounts(): StanzaCounts {
  return { message: 0, presence: 0, iq: 0 };
}

/** Which stanza counters a session's traffic goes to (undefined: none, e.g. internal sessions). */
export function stanzaPeerOf(type: StreamSession['type']): StanzaPeer | undefined {
  if (type === 'c2s' || type === 'c2s_unauthed') return 'c2s';
  if (type === 's2s' || type === 's2s_unauthed') return 's2s';
  if (type === 'component') return 'component';
  return undefined;
}

export function registerCoreMetrics(server: Server): CoreMetrics {
  const measure = server.metrics.scope('core');
  measure.gauge('sessions', 'Stream sessions in this process, by type and transport', ['type', 'transport'], (gauge) => {
    const counts = new Map<string, number>();
    for (const type of SESSION_TYPES) for (const transport of TRANSPORTS) counts.set(`${type} ${transport}`, 0);
    for (const s of server.sessions.all) {
      const key = `${s.type} ${s.conn.transport}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of counts) {
      const [type = '', transport = ''] = key.split(' ');
      gauge.set(n, { type, transport });
    }
  });
  measure.gauge('s2s_streams', 'Server-to-server streams in this process, by direction and state', ['direction', 'state'], (gauge) => {
    const counts = new Map<string, number>(['incoming', 'outgoing'].flatMap((d) => ['negotiating', 'established'].map((st) => [`${d} ${st}`, 0])));
    for (const s of server.sessions.all) {
      if (s.type !== 's2s' && s.type !== 's2s_unauthed') continue;
      const key = `${s.direction} ${s.type === 's2s' ? 'established' : 'negotiating'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, n] of counts) {
      const [direction = '', state = ''] = key.split(' ');
      gauge.set(n, { direction, state });
    }
  });
  measure.gauge('bound_resources', 'Client resources bound in this process, by host', ['host'], (gauge) => {
    for (const host of server.hosts.keys()) gauge.set(server.sessions.countBound(host), { host });
  });

  const stanzasRouted = zeroCounts();
  const stanzasIn = { c2s: zeroCounts(), s2s: zeroCounts(), component: zeroCounts() };
  const stanzasOut = { c2s: zeroCounts(), s2s: zeroCounts(), component: zeroCounts() };
  const routingErrors = new Map<StanzaErrorCondition, number>();
  measure.counter('stanzas_routed_total', 'Stanzas routed, by kind (message, presence, iq)', ['kind'], (counter) => {
    for (const [kind, n] of Object.entries(stanzasRouted)) counter.set(n, { kind });
  });
  const perPeer = (counts: Record<StanzaPeer, StanzaCounts>) => (counter: { set(n: number, labels: { peer: string; kind: string }): void }) => {
    for (const peer of PEERS) for (const [kind, n] of Object.entries(counts[peer])) counter.set(n, { peer, kind });
  };
  measure.counter('stanzas_received_total', 'Stanzas received from peers, by the kind of session (c2s, s2s, component) and stanza kind', ['peer', 'kind'], perPeer(stanzasIn));
  measure.counter('stanzas_sent_total', 'Stanzas written to peers, by the kind of session (c2s, s2s, component) and stanza kind', ['peer', 'kind'], perPeer(stanzasOut));
  measure.counter('routing_errors_total', 'Stanzas the router could not deliver and answered with (or dropped instead of) an error, by condition', ['condition'], (counter) => {
    for (const [condition, n] of routingErrors) counter.set(n, { condition });
  });
  return { stanzasRouted, stanzasIn, stanzasOut, routingErrors };
}
