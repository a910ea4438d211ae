/**
 * XEP-0198 resumption on another node (docs/scaling.md, "Stream management resumption on
 * another node"). A resumption id names the member holding the session (`{member}.{token}`);
 * a `<resume/>` for a session another live member holds asks that member to hand it over:
 *
 * - requester: the holder is the member the id names, or where the session moved since
 *   (`canto:smloc:{id}`); `SET canto:smtake:{id} {rid} NX PX 30000` (one takeover per id at a
 *   time: a second resume elsewhere meanwhile fails), then an `sm-takeover` control message on
 *   the holder's stream; it waits for the `sm-state` answer on its own stream,
 *   giving up when the holder's lease goes (checked every second) or after ANSWER_TIMEOUT_MS.
 *   Once the holder's answer is in (the move is done, or refused), the requester deletes the key
 *   if it still holds its own `rid`: the session can move again at once. A takeover that got no
 *   answer leaves the key to expire (the holder may still act on the request);
 * - holder: the stream management module freezes the session and unbinds it locally without
 *   events, returning its state; this node then points the resource at the requester (a proxy
 *   in its replica: stanzas it still routes there follow the answer on the requester's stream,
 *   so they arrive after the session is bound), records where the id leads now (`smloc`) and
 *   answers with the state;
 * - requester: the answer is handled synchronously in stream order: the module binds the
 *   resource (`BIND` replaces the holder's binding in every replica at once) and resumes.
 *
 * State that reaches no session (the requester gave up or died, its client left) gets the
 * fates of a session that ended (re-routed, bounced, discarded), on whichever node has it.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/logging.js';
import type {
  MoverHandlers, MovedSession, SessionMover, TakeoverAnswer, TakeoverFailure, TakeoverRequest,
} from '../../core/session-mover.js';
import type { RegistryEntry } from '../protocol.js';
import type { ClusterWorker } from '../worker.js';
import type { RedisEngine } from './engine.js';
import { keys } from './keys.js';

/** Asks a holder for a session (on the holder's stream). */
export interface TakeoverRequestMessage extends TakeoverRequest {
  t: 'sm-takeover';
  to: string;
  from: string;
  /** The request, as the requester knows it. */
  rid: string;
}

/** The holder's answer (on the requester's stream). */
export interface TakeoverStateMessage {
  t: 'sm-state';
  to: string;
  from: string;
  rid: string;
  owner: string;
  answer: TakeoverAnswer;
}

export type ControlMessage = TakeoverRequestMessage | TakeoverStateMessage;

/**
 * The takeover key's lifetime: one takeover per resumption id at a time; the key is released
 * when the holder's answer arrives, and only expires when none did.
 */
export const TAKEOVER_ONCE_MS = 30_000;
/** A holder that neither answers nor loses its lease for this long: the requester gives up. */
const ANSWER_TIMEOUT_MS = 10_000;
/** After this, a binding the requester has not replaced is removed by the holder. */
const STALE_BINDING_MS = ANSWER_TIMEOUT_MS + 5000;
/** How often the requester checks that the holder still holds its lease. */
const LIVENESS_MS = 1000;

interface Pending {
  member: string;
  /** The takeover key this request holds (set once claimed), released when the holder answers. */
  claimed?: string;
  answer: (a: TakeoverAnswer) => void;
  timer: NodeJS.Timeout;
  watch: NodeJS.Timeout;
}

const failure = (reason: TakeoverFailure): TakeoverAnswer => ({ ok: false, reason });

export class SmTakeover implements SessionMover {
  private readonly handlers = new Map<string, MoverHandlers>();
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly engine: RedisEngine,
    private readonly link: ClusterWorker,
    private readonly log: Logger,
  ) {
    engine.onControl = (msg, reaped) => this.onControl(msg, reaped);
  }

  self(): string | undefined {
    return this.engine.fenced || this.engine.self === '' ? undefined : this.engine.self;
  }

  register(host: string, handlers: MoverHandlers): () => void {
    this.handlers.set(host, handlers);
    return () => {
      if (this.handlers.get(host) === handlers) this.handlers.delete(host);
    };
  }

  takeover(member: string, req: TakeoverRequest, answer: (a: TakeoverAnswer) => void): void {
    const rid = randomBytes(9).toString('base64url');
    const p: Pending = {
      member,
      answer,
      timer: setTimeout(() => this.settle(rid, failure('timeout')), ANSWER_TIMEOUT_MS),
      watch: setInterval(() => {
        void this.engine.memberLive(p.member).then((live) => {
          if (!live) this.settle(rid, failure('dead'));
        });
      }, LIVENESS_MS),
    };
    this.pending.set(rid, p);
    void this.ask(rid, member, req);
  }

  /** Stop waiting (the server stops): every pending takeover fails. */
  close(): void {
    for (const rid of [...this.pending.keys()]) this.settle(rid, failure('error'));
  }

  private async ask(rid: string, member: string, req: TakeoverRequest): Promise<void> {
    try {
      const self = this.self();
      // A session that moved since its id was made: where it went (this node knows its own).
      const holder = (await this.engine.getKey(keys.smLocation(req.id))) ?? member;
      if (self === undefined || holder === self) {
        this.settle(rid, failure('unknown'));
        return;
      }
      if (!(await this.engine.memberLive(holder))) {
        this.settle(rid, failure('dead'));
        return;
      }
      const key = keys.smTakeover(req.id);
      if (!(await this.engine.claimOnce(key, TAKEOVER_ONCE_MS, rid))) {
        this.settle(rid, failure('taken'));
        return;
      }
      const p = this.pending.get(rid);
      if (p !== undefined) {
        p.member = holder;
        p.claimed = key;
      }
      const msg: TakeoverRequestMessage = { t: 'sm-takeover', to: holder, from: self, rid, id: req.id, owner: req.owner, h: req.h, sid: req.sid };
      if (!(await this.engine.sendControl(msg))) this.settle(rid, failure('dead'));
    } catch (err) {
      this.log.warn({ err: (err as Error).message, named: member }, 'stream management takeover: asking the holder failed');
      this.settle(rid, failure('error'));
    }
  }

  /** `answered`: the holder's answer (the takeover is over there: its key can go). */
  private settle(rid: string, a: TakeoverAnswer, answered = false): boolean {
    const p = this.pending.get(rid);
    if (p === undefined) return false;
    this.pending.delete(rid);
    clearTimeout(p.timer);
    clearInterval(p.watch);
    p.answer(a);
    // After the answer was acted on (the resource is bound here, in this node's command order
    // before the delete): the next resume of this id, anywhere, finds the session here via smloc.
    if (answered && p.claimed !== undefined) this.engine.releaseOnce(p.claimed, rid);
    return true;
  }

  private onControl(msg: ControlMessage, reaped: boolean): void {
    if (msg.t === 'sm-takeover') {
      // A request the dead holder never read: the requester notices the lease is gone.
      if (!reaped) this.onRequest(msg);
      return;
    }
    // An answer for a dead requester, or one it stopped waiting for: nobody resumes it.
    if ((reaped || !this.settle(msg.rid, msg.answer, true)) && msg.answer.ok) this.orphan(msg.owner, msg.answer.state);
  }

  /** On the holder: hand the session over, point the resource at the requester, answer. */
  private onRequest(msg: TakeoverRequestMessage): void {
    const at = msg.owner.lastIndexOf('@');
    const username = msg.owner.slice(0, at);
    const host = msg.owner.slice(at + 1);
    const handlers = this.handlers.get(host);
    const req: TakeoverRequest = { id: msg.id, owner: msg.owner, h: msg.h, sid: msg.sid };
    const answer = at > 0 && handlers !== undefined ? handlers.onRequest(req) : failure('unknown');
    if (answer.ok) {
      const s = answer.state;
      const entry: RegistryEntry = {
        host, username, resource: s.resource, worker: msg.from, sid: msg.sid, interested: s.interested,
        ...(s.priority !== undefined ? { priority: s.priority } : {}),
        ...(s.presence !== undefined ? { presence: s.presence } : {}),
        ...(s.flags !== undefined ? { flags: s.flags } : {}),
      };
      // Stanzas routed here for the resource from now on go to the requester's stream, after the answer.
      this.link.replica.upsert(entry);
      this.engine.disownBinding(entry);
      // Where the id leads now (written before the answer: the client can only move it again after).
      this.engine.setKey(keys.smLocation(msg.id), msg.from, s.windowMs);
      // The requester's BIND replaces this node's binding at once. Should it never bind (it gave
      // up, its client left, it was fenced), the binding left here must not stay for good.
      const left: RegistryEntry = { ...entry, worker: this.engine.self, sid: answer.sid };
      setTimeout(() => {
        void this.engine.unbindIfStill(left).then((removed) => {
          if (!removed) return;
          this.link.replica.remove(entry);
          this.log.warn({ user: msg.owner, resource: s.resource, to: msg.from }, 'a handed-over session was never bound by the node that asked for it: its binding here is removed');
        });
      }, STALE_BINDING_MS).unref();
      this.log.info({ user: msg.owner, resource: s.resource, to: msg.from, unacked: s.unacked.length }, 'stream management session handed over to another node');
    } else {
      this.log.info({ user: msg.owner, to: msg.from, reason: answer.reason }, 'stream management takeover refused');
    }
    const reply: TakeoverStateMessage = { t: 'sm-state', to: msg.from, from: this.engine.self, rid: msg.rid, owner: msg.owner, answer };
    void this.engine.sendControl(reply).then((sent) => {
      if (!sent && answer.ok) this.orphan(msg.owner, answer.state);
    });
  }

  private orphan(owner: string, state: MovedSession): void {
    const handlers = this.handlers.get(owner.slice(owner.lastIndexOf('@') + 1));
    this.log.info({ user: owner, unacked: state.unacked.length }, 'a handed-over stream management session reached no client: its stanzas get the fates of an ended session');
    handlers?.onOrphan(owner, state);
  }
}
