/**
 * The write side: archives eligible messages once per account, both directions, and stamps
 * XEP-0359 stanza-ids on the live stanza.
 *
 * - Sender side (`pre-message/*` on the sender's host): a message a local user sends, wherever
 *   it goes (local, remote, component), goes into the sender's archive, and the stanza carries
 *   `<stanza-id by='sender@host'/>` from then on, so what later sees the stanza on this path
 *   (carbons of sent messages) has the sender's archive id. Messages to one's own account are
 *   left to the destination side, so they are archived once.
 * - Destination (`message/bare`, `message/full` on the recipient's host): a stanza-id claiming
 *   to be by the recipient is removed (spoofing); an eligible message goes into the recipient's
 *   archive and is stamped `<stanza-id by='recipient@host'/>` before delivery goes on, so a copy
 *   stored offline (`message/offline`, fired later by the message module) carries it too.
 *
 * Archiving holds the stanza (the handler returns a promise) until the item is appended; a
 * storage failure is logged and the message delivered unstamped rather than lost.
 */
import type { ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { ArchiveStore, KeyValStore } from '../../storage/types.js';
import type { Element } from '../../xml/element.js';
import { asClientStanza } from '../../xml/stanza.js';
import { loadRoster } from '../roster/store.js';
import { archivable, stampStanzaId, stripStanzaIds } from './eligibility.js';
import { prefsAllow, type Policy, type Prefs } from './prefs.js';

export interface ArchiverDeps {
  store: ArchiveStore<string>;
  prefs: KeyValStore<Prefs>;
  defaultPolicy: Policy;
  onArchived: (direction: 'in' | 'out') => void;
}

export class Archiver {
  constructor(
    private readonly mod: ModuleApi,
    private readonly deps: ArchiverDeps,
  ) {}

  // The hooks hold a stanza (return a promise) only when they write: what is not archived goes
  // on at once, without a promise per message on the routing path.

  /** `pre-message/bare|full`: what a local user sends. */
  outgoing = (event: StanzaEvent): false | Promise<false> => {
    const { stanza, from, to } = event;
    if (from.local === '' || from.domain !== this.mod.host) return false;
    stripStanzaIds(stanza, from.bare);
    // To one's own account: the destination side archives it (once).
    if (to.bare === from.bare) return false;
    // To this server itself (commands, the host's services): not a conversation.
    if (to.local === '' && to.domain === this.mod.host) return false;
    if (!archivable(stanza)) return false;
    return this.archive(from.local, to.full, to.bare, stanza, 'out');
  };

  /** `message/bare|full` on the recipient's host. */
  incoming = (event: StanzaEvent): false | Promise<false> => {
    const { stanza, from, to } = event;
    // A re-sent message (stream management) was archived, and carries our stanza-id, already.
    if (to.local === '' || event.redelivery) return false;
    stripStanzaIds(stanza, to.bare);
    if (!archivable(stanza)) return false;
    return this.mod.accountExists(to.local).then((exists) => (exists ? this.archive(to.local, from.full, from.bare, stanza, 'in') : false)); // no account: the message module bounces it
  };

  /** Resolves to false (the stanza goes on) when done; a failure is logged, the message goes on unstamped. */
  private async archive(username: string, withJid: string, withBare: string, stanza: Element, direction: 'in' | 'out'): Promise<false> {
    const owner = `${username}@${this.mod.host}`;
    try {
      const prefs = (await this.deps.prefs.get(username)) ?? { default: this.deps.defaultPolicy, always: [], never: [] };
      const inRoster = async () => (await loadRoster(this.mod.server, this.mod.host, username)).getItem(withBare) !== undefined;
      if (!(await prefsAllow(prefs, withBare, inRoster))) return false;
      const id = await this.deps.store.append(username, { when: this.mod.now(), with: withJid, value: asClientStanza(stanza).toString() }); // stored as a client would see it (results nest it)
      stampStanzaId(stanza, id, owner);
      this.deps.onArchived(direction);
      this.mod.log.debug({ user: owner, id, direction }, 'message archived');
    } catch (err) {
      this.mod.log.error({ err, user: owner }, 'could not archive a message');
    }
    return false;
  }
}
