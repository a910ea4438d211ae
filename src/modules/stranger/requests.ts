/**
 * Message requests: messages from strangers held for the recipient (an archive store per
 * account, `with` = the sender's bare JID), bounded per account and per sender, expiring. The
 * user lists them, accepts a sender (the held messages are delivered with a XEP-0203 delay) or
 * dismisses one.
 */
import type { ArchiveItem, ArchiveStore } from '../../storage/types.js';
import type { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';

export const REQUESTS_STORE = 'stranger_requests';
export const NS_DELAY = 'urn:xmpp:delay';
export const NS_SID = 'urn:xmpp:sid:0';

export interface RequestLimits {
  maxMessages: number;
  maxPerSender: number;
  expiresAfterMs: number;
}

/** One sender's held messages, as listed to the user. */
export interface MessageRequest {
  sender: string;
  count: number;
  first: number;
  last: number;
  /** The first message's body (shortened). */
  preview: string;
}

export type HoldOutcome = 'held' | 'full' | 'sender-full';

/** A held message found by one of its ids (for spam reports). */
export interface HeldMessage {
  id: string;
  when: number;
  sender: string;
  xml: string;
}

export class MessageRequests {
  constructor(
    private readonly store: ArchiveStore<string>,
    private readonly limits: RequestLimits,
    private readonly now: () => number,
  ) {}

  /** Delete what expired; returns how many. */
  prune(username: string): Promise<number> {
    return this.store.delete(username, { end: this.now() - this.limits.expiresAfterMs });
  }

  /** Hold a message; `firstFromSender` says whether this sender had nothing held before. */
  async hold(username: string, sender: string, stanza: Element): Promise<{ outcome: HoldOutcome; firstFromSender: boolean }> {
    await this.prune(username);
    const fromSender = await this.store.count(username, { with: sender });
    if (fromSender >= this.limits.maxPerSender) return { outcome: 'sender-full', firstFromSender: false };
    if ((await this.store.count(username)) >= this.limits.maxMessages) return { outcome: 'full', firstFromSender: fromSender === 0 };
    await this.store.append(username, { with: sender, value: stanza.toString(), when: this.now() });
    return { outcome: 'held', firstFromSender: fromSender === 0 };
  }

  async list(username: string): Promise<MessageRequest[]> {
    await this.prune(username);
    const bySender = new Map<string, MessageRequest>();
    for (const item of await this.store.find(username)) {
      const r = bySender.get(item.with);
      if (r) {
        r.count++;
        r.last = item.when;
        continue;
      }
      bySender.set(item.with, { sender: item.with, count: 1, first: item.when, last: item.when, preview: preview(item.value) });
    }
    return [...bySender.values()];
  }

  /** Take (delete and return) a sender's held messages, oldest first, stamped with their delay. */
  async take(username: string, sender: string, host: string): Promise<Element[]> {
    const items = await this.store.find(username, { with: sender });
    const out: Element[] = [];
    for (const item of items) {
      // Claimed by deleting first: a second accept (another resource, another worker) finds it gone.
      if ((await this.store.delete(username, { ids: [item.id] })) === 0) continue;
      out.push(withDelay(item, host));
    }
    return out;
  }

  dismiss(username: string, sender: string): Promise<number> {
    return this.store.delete(username, { with: sender });
  }

  /** A held message whose id, origin-id or stanza-id is one of `ids`; with no ids, the latest from `sender`. */
  async find(username: string, ids: readonly string[], sender?: string): Promise<HeldMessage | undefined> {
    if (ids.length === 0) {
      if (sender === undefined) return undefined;
      const [last] = await this.store.find(username, { with: sender, reverse: true, limit: 1 });
      return last ? { id: last.id, when: last.when, sender: last.with, xml: last.value } : undefined;
    }
    const items = await this.store.find(username, sender === undefined ? {} : { with: sender });
    for (const item of items) {
      if (ids.includes(item.id) || messageIds(item.value).some((i) => ids.includes(i))) {
        return { id: item.id, when: item.when, sender: item.with, xml: item.value };
      }
    }
    return undefined;
  }
}

function withDelay(item: ArchiveItem<string>, host: string): Element {
  const stanza = parseXmlFragment(item.value);
  stanza.removeChildren('delay', NS_DELAY);
  stanza.c('delay', { xmlns: NS_DELAY, from: host, stamp: new Date(item.when).toISOString() }).t('Message request');
  return stanza;
}

function preview(xml: string): string {
  try {
    const body = parseXmlFragment(xml).getChildText('body') ?? '';
    return body.length > 200 ? `${body.slice(0, 200)}…` : body;
  } catch {
    return '';
  }
}

/** The stanza's id, origin-id and stanza-ids (XEP-0359). */
export function messageIds(xml: string): string[] {
  try {
    const stanza = parseXmlFragment(xml);
    const ids: string[] = [];
    if (stanza.attrs.id !== undefined) ids.push(stanza.attrs.id);
    for (const el of [...stanza.getChildren('origin-id', NS_SID), ...stanza.getChildren('stanza-id', NS_SID)]) {
      if (el.attrs.id !== undefined) ids.push(el.attrs.id);
    }
    return ids;
  } catch {
    return [];
  }
}
