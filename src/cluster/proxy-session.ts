/**
 * A proxy session: how a resource bound on another worker looks to this worker's modules. It
 * has the `c2s` fields modules read (host, username, resource, fullJid, priority, presence,
 * interested); `send()` hands the stanza to the owning worker and `close()` asks that worker to
 * close the real session. It is never in `SessionManager.all` and never destroyed by it.
 */
import type { Logger } from '../core/logging.js';
import type { BoundC2SSession, CloseReason, Connection, Framing } from '../core/session.js';
import { SessionFilters } from '../core/filters.js';
import type { Element } from '../xml/element.js';
import { parseXmlFragment } from '../xml/parse-fragment.js';
import { presence as presenceElement } from '../xml/stanza.js';
import type { RegistryEntry } from './protocol.js';

/** What a proxy needs from its worker. */
export interface ProxyLink {
  readonly log: Logger;
  deliver(entry: RegistryEntry, stanza: Element | string): void;
  closeRemote(entry: RegistryEntry, reason: CloseReason | undefined): void;
}

/** A connection object for a session whose socket is in another process: it carries nothing. */
const REMOTE_CONNECTION: Connection = {
  transport: 'internal',
  remoteAddress: '',
  remotePort: 0,
  encrypted: true,
  bufferedBytes: 0,
  write: () => false,
  end: () => {},
  destroy: () => {},
};

/** The framing of a proxy: its traffic goes through the worker link, never a framing. */
const REMOTE_FRAMING: Framing = { send: () => {}, close: () => {}, restart: () => {}, closeReason: undefined, ended: false };

export class ProxySession implements BoundC2SSession {
  readonly type = 'c2s';
  readonly id: string;
  conn = REMOTE_CONNECTION;
  framing = REMOTE_FRAMING;
  /** The owning worker runs the real session's filters; a proxy's stay empty. */
  readonly filters = new SessionFilters();
  hibernating = false;
  notopen = false;
  secure = true;
  ip = '';
  streamId = '';
  log: Logger;
  /** Set when the binding is gone from the replica; a late send() still reaches the owner, which decides. */
  destroyed = false;
  readonly username: string;
  readonly host: string;
  readonly resource: string;
  readonly fullJid: string;
  priority?: number;
  presence?: Element;
  interested = false;
  flags?: ReadonlySet<string>;
  private current: RegistryEntry;

  constructor(
    entry: RegistryEntry,
    private readonly link: ProxyLink,
  ) {
    this.current = entry;
    this.id = `w${entry.worker}:${entry.sid}`;
    this.host = entry.host;
    this.username = entry.username;
    this.resource = entry.resource;
    this.fullJid = `${entry.username}@${entry.host}/${entry.resource}`;
    this.log = link.log.child({ proxy: this.id, resource: entry.resource });
    this.apply(entry);
  }

  get entry(): RegistryEntry {
    return this.current;
  }

  /** Take the state of a newer entry for the same binding. */
  apply(entry: RegistryEntry): void {
    const presenceChanged = entry.presence !== this.current.presence || this.presence === undefined;
    this.current = entry;
    this.priority = entry.priority;
    this.interested = entry.interested;
    this.flags = entry.flags === undefined ? undefined : new Set(entry.flags);
    if (entry.presence === undefined) this.presence = undefined;
    else if (presenceChanged) this.presence = this.parsePresence(entry.presence);
  }

  send(stanza: Element | string): void {
    this.link.deliver(this.current, stanza);
  }

  close(reason?: CloseReason): void {
    this.link.closeRemote(this.current, reason);
  }

  resetStream(): void {}

  /** Roster pushes assign the roster to every session; the owner keeps its own copy fresh, so a proxy holds none. */
  get roster(): unknown {
    return undefined;
  }

  set roster(_value: unknown) {}

  private parsePresence(xml: string): Element {
    try {
      return parseXmlFragment(xml);
    } catch (err) {
      this.log.warn({ err }, 'unreadable presence from another worker; using a bare available presence');
      return presenceElement({ from: this.fullJid });
    }
  }
}
