/**
 * Directed presence on a Redis cluster (RFC 6121 §4.6; docs/scaling.md). When a session ends,
 * the presence module tells the entities it had sent directed available presence to — but a node
 * killed with `kill -9` tells nobody, and the survivor that reaps it only knows its bindings (so
 * it tells roster subscribers). So each node records its sessions' directed presence in
 * `canto:dpres:{member}` (field `{sid}\0{to}` → the session's full JID): `HSET` (lease-guarded)
 * when a session sends directed available presence, `HDEL` when it sends directed unavailable,
 * goes unavailable, ends or moves to another node. The reaper reads the hash, sends unavailable
 * presence from each full JID to its recipients and deletes it (engine.ts, worker.ts).
 *
 * Cost: nothing on the hot path. The presence module fires `presence/directed` only when a
 * session's set of recipients changes (broadcasts to roster subscribers are not directed
 * presence), and only those cost a Redis write. MUC domains placed by lease are left out: room
 * joins are directed presence, and the room's owner already removes a dead node's occupants
 * (`cluster-sessions-gone`).
 */
import type { Logger } from '../../core/logging.js';
import type { Server } from '../../core/server.js';
import type { BoundC2SSession } from '../../core/session.js';
import { tryParseJid } from '../../jid/index.js';
import type { RedisEngine } from './engine.js';

interface Recorded {
  /** The member whose hash holds the records (the member the node was when they were written). */
  member: string;
  fields: Set<string>;
}

export class DirectedPresenceRecords {
  private readonly recorded = new WeakMap<BoundC2SSession, Recorded>();
  private server: Server | undefined;

  constructor(
    private readonly engine: RedisEngine,
    private readonly log: Logger,
  ) {}

  /** Before the server starts: hook every host's bus (and those activated later). */
  install(server: Server): void {
    this.server = server;
    const hook = (host: string): void => {
      const events = server.hosts.get(host)?.events;
      if (!events) return;
      events.on('presence/directed', ({ session, to, available }) => {
        this.changed(session, to, available);
      });
      // Ended (its recipients were told, or the records go now) or moved to another node (whose
      // session no longer has them): nothing to tell on this member's behalf any more.
      events.on('resource-unbind', ({ session }) => {
        this.forget(session);
      });
      events.on('session-handed-over', ({ session }) => {
        this.forget(session);
      });
    };
    for (const host of server.hosts.keys()) hook(host);
    server.events.on('host-activated', ({ host }) => hook(host));
  }

  private changed(session: BoundC2SSession, to: string, available: boolean): void {
    const domain = tryParseJid(to)?.domain;
    if (domain === undefined || session.fullJid === undefined || this.isMuc(domain)) return;
    const field = `${session.id}\u0000${to}`;
    let rec = this.recorded.get(session);
    if (!available) {
      if (rec?.fields.delete(field) === true) this.engine.forgetDirected(rec.member, [field]);
      return;
    }
    if (rec === undefined) {
      if (this.engine.fenced) return;
      rec = { member: this.engine.self, fields: new Set() };
      this.recorded.set(session, rec);
    }
    if (rec.fields.has(field)) return;
    rec.fields.add(field);
    const mine = rec;
    void this.engine.recordDirected(field, session.fullJid).then((member) => {
      // Taken back, ended or moved while the write was out: remove what was just written.
      if (member !== undefined && (!mine.fields.has(field) || this.recorded.get(session) !== mine)) this.engine.forgetDirected(member, [field]);
    });
  }

  /**
   * A MUC domain of this server (checked only for directed presence): its occupants on a dead
   * node are removed by the room's owner (`cluster-sessions-gone`), not by unavailable presence.
   */
  private isMuc(domain: string): boolean {
    return this.server?.config.component.some((c) => c.module === 'muc' && c.domain === domain) === true;
  }

  private forget(session: BoundC2SSession): void {
    const rec = this.recorded.get(session);
    if (rec === undefined) return;
    this.recorded.delete(session);
    this.engine.forgetDirected(rec.member, [...rec.fields]);
    this.log.debug({ session: session.id, recipients: rec.fields.size }, 'directed presence records removed');
  }
}
