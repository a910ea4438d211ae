/**
 * In-process client sessions without sockets: a bound `c2s` session whose `send` collects
 * elements, for fast and exact tests of routing and modules.
 *   const romeo = fakeClient(server, 'romeo', 'localhost', 'phone');
 *   server.router.fromClient(romeo.session, stanza); assert romeo.sent…
 */
import type { Server } from '../../src/core/server.js';
import type { BoundC2SSession, CloseReason, Connection, Framing } from '../../src/core/session.js';
import { newSessionId } from '../../src/core/session.js';
import type { Element } from '../../src/xml/element.js';

export class FakeConnection implements Connection {
  readonly transport = 'internal' as const;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 0;
  readonly encrypted = true;
  readonly bufferedBytes = 0;
  written: string[] = [];
  ended = false;
  write(data: string): boolean {
    this.written.push(data);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.ended = true;
  }
}

export interface FakeClient {
  session: BoundC2SSession;
  sent: Element[];
  closedWith: Array<CloseReason | undefined>;
  /** The last element sent to this client. */
  last(): Element | undefined;
}

/** A bound client session made by the core's session factory over a framing that collects what it is sent. */
export function fakeClient(server: Server, username: string, host: string, resource?: string): FakeClient {
  const sent: Element[] = [];
  const closedWith: Array<CloseReason | undefined> = [];
  const conn = new FakeConnection();
  let ended = false;
  const framing: Framing = {
    send: (el) => {
      if (typeof el !== 'string') sent.push(el);
    },
    close: (reason) => {
      closedWith.push(reason);
      ended = true;
      server.sessions.connectionClosed(unauthed, conn);
    },
    restart: () => {},
    closeReason: undefined,
    get ended() {
      return ended;
    },
  };
  const unauthed = server.sessions.create(conn, framing, { type: 'c2s_unauthed', id: newSessionId('fake'), log: server.log.child({ fake: username }), host });
  unauthed.notopen = false;
  unauthed.streamId = 'fake';
  const session = server.sessions.makeAuthenticated(unauthed, username);
  if (!session) throw new Error('authentication refused');
  const bound = server.sessions.bindResource(session, resource);
  if (!bound.ok) throw new Error(bound.text);
  return { session: bound.session, sent, closedWith, last: () => sent[sent.length - 1] };
}
