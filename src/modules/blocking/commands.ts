/**
 * The blocking command IQs (XEP-0191 §3.2–§3.5): blocklist retrieval, block, unblock and
 * unblock-all, with pushes to every resource of the user that has retrieved the blocklist.
 */
import { randomBytes } from 'node:crypto';
import type { ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import type { BoundC2SSession } from '../../core/session.js';
import { JidError, parseJid } from '../../jid/index.js';
import { Element } from '../../xml/element.js';
import { errorReply, iq, reply, type StanzaErrorCondition } from '../../xml/stanza.js';
import type { BlocklistCache } from './cache.js';
import type { PresenceEffects } from './presence-effects.js';

export const NS_BLOCKING = 'urn:xmpp:blocking';

type ParsedItems = { ok: true; items: string[] } | { ok: false; condition: StanzaErrorCondition; text: string };

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

  readonly onBlocklist = (event: StanzaEvent): true => {
    if (!this.ownAccount(event)) return true;
    const { origin, to, stanza } = event;
    this.run(event, async () => {
      const list = await this.cache.load(to.local);
      if (origin.type === 'c2s') this.interested.add(origin);
      const result = reply(stanza);
      const el = result.c('blocklist', { xmlns: NS_BLOCKING });
      for (const item of list.items()) el.c('item', { jid: item });
      return result;
    });
    return true;
  };

  /**
   * The JIDs of a <block/> or <unblock/> command, or undefined after answering the request with
   * its error. `emptyError` set: a command without items is refused with that text.
   */
  private commandItems(event: StanzaEvent, name: 'block' | 'unblock', emptyError: string | undefined): string[] | undefined {
    const command = event.stanza.getChild(name, NS_BLOCKING);
    const parsed = command ? parseItems(command) : undefined;
    if (parsed?.ok && (emptyError === undefined || parsed.items.length > 0)) return parsed.items;
    const problem = parsed && !parsed.ok ? parsed : { condition: 'bad-request' as const, text: emptyError ?? `malformed ${name}` };
    event.origin.send(errorReply(event.stanza, problem.condition, problem.text));
    return undefined;
  }

  readonly onBlock = (event: StanzaEvent): true => {
    if (!this.ownAccount(event)) return true;
    const { to, stanza } = event;
    // §3.3: a <block/> without an <item/> is a bad-request.
    const items = this.commandItems(event, 'block', 'block at least one JID');
    if (!items) return true;
    this.run(event, async () => {
      const username = to.local;
      const list = await this.cache.load(username);
      const fresh = items.filter((i) => !list.has(i));
      if (list.size + fresh.length > this.maxItems) {
        this.mod.log.info({ user: to.bare, size: list.size, adding: fresh.length }, 'block refused: blocklist full');
        return errorReply(stanza, 'policy-violation', `a blocklist holds at most ${this.maxItems} JIDs`);
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
      void this.effects.blocked(username, added).catch((err: unknown) => this.mod.log.error({ err }, 'presence on block failed'));
      return reply(stanza);
    });
    return true;
  };

  readonly onUnblock = (event: StanzaEvent): true => {
    if (!this.ownAccount(event)) return true;
    const { to, stanza } = event;
    const items = this.commandItems(event, 'unblock', undefined);
    if (!items) return true;
    this.run(event, async () => {
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
      void this.effects.unblocked(username, removed, list).catch((err: unknown) => this.mod.log.error({ err }, 'presence on unblock failed'));
      return reply(stanza);
    });
    return true;
  };

  /** A command in the wrong iq type (e.g. <block/> in a get). */
  readonly onWrongType = (event: StanzaEvent): true => {
    event.origin.send(errorReply(event.stanza, 'bad-request', 'blocklist is read with get; block and unblock are set'));
    return true;
  };

  /** Only the account itself manages its blocklist; answers forbidden otherwise. */
  private ownAccount(event: StanzaEvent): boolean {
    if (event.from.bare === event.to.bare) return true;
    event.origin.send(errorReply(event.stanza, 'forbidden', 'you can only manage your own blocklist'));
    return false;
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

  private run(event: StanzaEvent, work: () => Promise<Element>): void {
    work().then(
      (answer) => event.origin.send(answer),
      (err: unknown) => {
        this.mod.log.error({ err, from: event.from.full }, 'blocking command failed');
        event.origin.send(errorReply(event.stanza, 'internal-server-error'));
      },
    );
  }
}
