/**
 * Moving a hibernating XEP-0198 session between the nodes of a cluster (docs/scaling.md,
 * "Stream management resumption on another node"). The stream management module asks for it
 * when a `<resume/>` names a session another node holds; the cluster engine carries the request
 * and the state. Absent outside a Redis cluster: the module then only resumes local sessions.
 */

/** What a session's holder ships to the node that resumes it. */
export interface MovedSession {
  resource: string;
  priority?: number;
  /** The last broadcast available presence as XML. */
  presence?: string;
  interested: boolean;
  flags?: string[];
  /** Stanzas handled from the client (the 'h' of `<resumed/>`). */
  inbound: number;
  /** The client's 'h' (what it acknowledged): the count the shipped stanzas follow. */
  acked: number;
  /** The stanzas after the client's 'h', oldest first: XML and when each was first sent. */
  unacked: { xml: string; at: number }[];
  /** The session's resumption window (ms). */
  windowMs: number;
}

export type TakeoverFailure =
  /** The holder does not know the id (or it is another account's). */
  | 'unknown'
  /** The session ended on its holder ('h' is its inbound count). */
  | 'gone'
  /** The client's 'h' is beyond what the holder sent. */
  | 'too-high'
  /** The holder is not a live member (dead, or never was). */
  | 'dead'
  /** Another resume of this id is (or was) under way. */
  | 'taken'
  /** The holder did not answer in time. */
  | 'timeout'
  /** Redis or the requesting node failed. */
  | 'error';

export type TakeoverAnswer =
  /** `sid`: the session's id on the holder (its binding there, removed if the requester never binds). */
  | { ok: true; state: MovedSession; sid: string }
  | { ok: false; reason: TakeoverFailure; h?: number; sent?: number };

export interface TakeoverRequest {
  /** The resumption id (`{member}.{token}`). */
  id: string;
  /** The account resuming (bare JID): the holder answers a foreign id as an unknown one. */
  owner: string;
  /** The client's 'h'. */
  h: number;
  /** The requesting node's session id for the resource (its binding's sid). */
  sid: string;
}

export interface SessionMover {
  /** This node's name for resumption ids (`{self}.{token}`); undefined when not serving. */
  self(): string | undefined;
  /**
   * Ask `member` for the session `req.id`. `answer` is called once, synchronously from the
   * handling of the holder's reply (so the requester binds before anything later is delivered).
   */
  takeover(member: string, req: TakeoverRequest, answer: (a: TakeoverAnswer) => void): void;
  /**
   * The stream management module of `host` takes part: on the holder, `onRequest` hands a
   * session over (freezes it, unbinds it locally without events, returns its state) or says why
   * not; `onOrphan` gives the fates of an ended session to state that reached no session (the
   * requester gave up, died or lost its client). Returns the unregistration.
   */
  register(host: string, handlers: MoverHandlers): () => void;
}

export interface MoverHandlers {
  onRequest(req: TakeoverRequest): TakeoverAnswer;
  onOrphan(owner: string, state: MovedSession): void;
}

/** `{member}.{token}` → the member, when the id names one. */
export function memberOfResumptionId(id: string): string | undefined {
  const i = id.lastIndexOf('.');
  return i > 0 ? id.slice(0, i) : undefined;
}
