/**
 * The blocking command IQs (XEP-0191 §3.2–§3.5): blocklist retrieval, block, unblock and
 * unblock-all, with pushes to every resource of the user that has retrieved the blocklist.
 * Each command is a `mod.iq` handler: it returns the result or throws a coded error.
 */
import { randomBytes } from 'node:crypto';
import type { ModuleApi } from '../../core/modules.js';
import { stanzaError, type StanzaErrorCode } from '../../core/errors.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';
import { JidError, parseJid } from '../../jid/index.js';
import { Element } from '../../xml/element.js';
import { iq } from '../../xml/stanza.js';
import type { BlocklistCache } from './cache.js';
import type { PresenceEffects } from './presence-effects.js';

export const NS_BLOCKING = 'urn:xmpp:blocking';

type ItemProblem = 'bad-request' | 'jid-malformed';
type ParsedItems = { ok: true; items: string[] } | { ok: false; condition: ItemProblem; text: string };

const ITEM_PROBLEM_CODES: Record<ItemProblem, StanzaErrorCode> = {
  'bad-request': 'CANTO_ERR_BAD_REQUEST',
  'jid-malformed': 'CANTO_ERR_JID_MALFORMED',
};

/** The prepared JIDs of a <block/> or <unblock/>'s items, deduplicated, in order. */
export function parseItems(command: Element): ParsedItems {
  const items: string[] = [];
  for (const item of command.getChildren('item', NS_BLOCKING)) {
    const raw = item.attrs.jid;
    if (raw === undefined) return { ok: false, condition: 'bad-request', text: "an item needs a 'jid' attribute" };
    try {
      const prepared = parseJid(raw).full;
      if (!items.includes(prepared)) items.push(prepared);
    } catch (err) {
      if (err instanceof JidError) return { ok: false, condition: 'jid-malformed', text: `not a valid JID: ${raw}` };
      throw err;
    }
  }
  return { ok: true, items };
}

export class BlockingCommands {
  /** Resources that retrieved the blocklist: they get pushes (§3.2). */
  private readonly interested = new WeakSet<BoundC2SSession>();

  constructor(
    private readonly mod: ModuleApi,
    private readonly cache: BlocklistCache,
    private readonly effects: PresenceEffects,
    private readonly maxItems: number,
  ) {}

  isInterested(session: BoundC2SSession): boolean {
    return this.interested.has(session);
  }

  readonly onBlocklist = (event: StanzaEvent): Promise<Element> => {
    this.ownAccount(event);
    return this.blocklist(event);
  };

  private async blocklist({ origin, to }: StanzaEvent): Promise<Element> {
    const list = await this.cache.load(to.local);
    if (origin.type === 'c2s') this.interested.add(origin);
    const el = new Element('blocklist', { xmlns: NS_BLOCKING });
    for (const item of list.items()) el.c('item', { jid: item });
    return el;
  }

  /**
   * The JIDs of a <block/> or <unblock/> command; throws its error when it has none.
   * `emptyError` set: a command without items is refused with that text.
   */
  private commandItems(event: StanzaEvent, name: 'block' | 'unblock', emptyError: string | undefined): string[] {
    const command = event.stanza.getChild(name, NS_BLOCKING);
    const parsed = command ? parseItems(command) : undefined;
    if (parsed?.ok && (emptyError === undefined || parsed.items.length > 0)) return parsed.items;
    const problem = parsed && !parsed.ok ? parsed : { condition: 'bad-request' as const, text: emptyError ?? `malformed ${name}` };
    throw stanzaError(ITEM_PROBLEM_CODES[problem.condition], problem.text);
  }

  readonly onBlock = (event: StanzaEvent): Promise<undefined> => {
    this.ownAccount(event);
    // §3.3: a <block/> without an <item/> is a bad-request.
    return this.block(event.to, this.commandItems(event, 'block', 'block at least one JID'));
  };

  private async block(to: StanzaEvent['to'], items: string[]): Promise<undefined> {
    const username = to.local;
    const list = await this.cache.load(username);
    const fresh = items.filter((i) => !list.has(i));
    if (list.size + fresh.length > this.maxItems) {
      this.mod.log.info({ user: to.bare, size: list.size, adding: fresh.length }, 'block refused: blocklist full');
      throw stanzaError('CANTO_ERR_POLICY_VIOLATION', `a blocklist holds at most ${this.maxItems} JIDs`);
    }
    // In force at once: from here on the checks see the new items.
    const added = list.add(items);
    try {
      await this.cache.save(username, list);
    } catch (err) {
      list.remove(added);
      throw err;
    }
    this.mod.log.info({ user: to.bare, items: added }, 'blocked');
    this.push(username, 'block', items);
    // The presence effects go on after the result (sent as this returns); they only log failures.
    void this.effects.blocked(username, added).catch((err: unknown) => this.mod.log.error({ err }, 'presence on block failed'));
    return undefined;
  }

  readonly onUnblock = (event: StanzaEvent): Promise<undefined> => {
    this.ownAccount(event);
    return this.unblock(event.to, this.commandItems(event, 'unblock', undefined));
  };

  private async unblock(to: StanzaEvent['to'], items: string[]): Promise<undefined> {
    const username = to.local;
    const list = await this.cache.load(username);
    // §3.5: an empty <unblock/> unblocks everyone.
    const removed = items.length === 0 ? list.clear() : list.remove(items);
    try {
      await this.cache.save(username, list);
    } catch (err) {
      list.add(removed);
      throw err;
    }
    this.mod.log.info({ user: to.bare, items: items.length === 0 ? 'all' : removed }, 'unblocked');
    this.push(username, 'unblock', items);
    // As for block: the presence effects go on after the result.
    void this.effects.unblocked(username, removed, list).catch((err: unknown) => this.mod.log.error({ err }, 'presence on unblock failed'));
    return undefined;
  }

  /** A command in the wrong iq type (e.g. <block/> in a get). */
  readonly onWrongType = (): never => {
    throw stanzaError('CANTO_ERR_BAD_REQUEST', 'blocklist is read with get; block and unblock are set');
  };

  /** Only the account itself manages its blocklist: throws forbidden otherwise. */
  private ownAccount(event: StanzaEvent): void {
    if (event.from.bare !== event.to.bare) throw stanzaError('CANTO_ERR_FORBIDDEN', 'you can only manage your own blocklist');
  }

  /** Send the IQ-set push to every interested resource of the user. */
  private push(username: string, command: 'block' | 'unblock', items: string[]): void {
    for (const session of this.mod.server.sessions.getUserSessions(this.mod.host, username)) {
      if (!this.interested.has(session) || session.fullJid === undefined) continue;
      const push = iq({ type: 'set', to: session.fullJid, id: `push-${randomBytes(6).toString('base64url')}` });
      const el = push.c(command, { xmlns: NS_BLOCKING });
      for (const item of items) el.c('item', { jid: item });
      session.send(push);
    }
  }
}
