/**
 * What the adhoc module offers other modules: the `adhoc` service, with which a module
 * registers commands (XEP-0050). A command is a list of stages (forms the requester fills in
 * order) and a `complete` that runs with every stage's values. The module does the protocol:
 * sessions, actions (execute/next/prev/complete/cancel), form checks, errors and disco.
 */
import type { Element } from '../../xml/element.js';
import type { Jid } from '../../jid/index.js';
import type { FormSpec, FormValues } from './form.js';

export const NS_COMMANDS = 'http://jabber.org/protocol/commands';

/** Who may run a command: every local user, the server's admins, or a predicate. */
// Synchronous: disco#items on the host is answered synchronously (the disco module fires, not dispatches).
export type CommandAccess = 'user' | 'admin' | ((requester: Jid) => boolean);

export interface CommandContext {
  /** The requester's full JID (always a local user of this host). */
  readonly from: Jid;
  readonly host: string;
  /** Whether the requester is one of the server's admins (`admins` in the config). */
  readonly isAdmin: boolean;
  /** The values of the stages submitted so far (later stages win on the same name). */
  readonly values: FormValues;
}

export interface Note {
  type: 'info' | 'warn' | 'error';
  text: string;
}

export interface CommandResult {
  notes?: Note[];
  /** A result form (type 'result') shown with the completion, e.g. a list of online users. */
  form?: FormSpec;
}

export interface CommandStage {
  /** The form of this stage (may depend on earlier values, e.g. the devices to choose from). */
  form(ctx: CommandContext): FormSpec | Promise<FormSpec>;
  /** Checks beyond the form's own (throw stanzaError to refuse; the session stays at this stage). */
  check?(ctx: CommandContext): void | Promise<void>;
}

export interface AdhocCommand {
  /** The command's node (XEP-0050 §2.4), e.g. 'http://jabber.org/protocol/admin#add-user'. */
  node: string;
  /** Human-readable name listed in disco#items. */
  name: string;
  access: CommandAccess;
  /** Forms to fill, in order; none: the command completes at its first execute. */
  stages: CommandStage[];
  /** Do it, with every stage's values; throw stanzaError to refuse (the session stays open). */
  complete(ctx: CommandContext): CommandResult | Promise<CommandResult>;
}

/** The `adhoc` service (on each host where the module is enabled). */
export interface AdhocService {
  /** Add a command; returns the function that removes it (give it to mod.onUnload). */
  register(command: AdhocCommand): () => void;
  /** Whether `requester` may run `node` now (for tests and other modules). */
  mayRun(node: string, requester: Jid): boolean;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    adhoc: AdhocService;
  }
}

/** The `<command/>` element of a reply (used by the engine). */
export type CommandElement = Element;
