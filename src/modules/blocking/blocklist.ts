/**
 * A user's blocklist (XEP-0191) and its JID matching rules (§6, as XEP-0016): an item
 *   user@domain/resource  matches only that full JID;
 *   user@domain           matches the bare JID and every full JID of it;
 *   domain/resource       matches only that JID;
 *   domain                matches the domain itself, everything at it and every subdomain of it.
 * Items are kept as prepared JID strings, in the order they were added.
 */
import type { Jid } from '../../jid/index.js';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export class Blocklist {
  private readonly set: Set<string>;

  constructor(items: Iterable<string> = []) {
    this.set = new Set(items);
  }

  get size(): number {
    return this.set.size;
  }

  /** The items in the order they were blocked. */
  items(): string[] {
    return [...this.set];
  }

  has(item: string): boolean {
    return this.set.has(item);
  }

  /** Adds items; returns those that were not blocked before. */
  add(items: string[]): string[] {
    const added: string[] = [];
    for (const item of items) {
      if (this.set.has(item)) continue;
      this.set.add(item);
      added.push(item);
    }
    return added;
  }

  /** Removes items; returns those that were blocked. */
  remove(items: string[]): string[] {
    return items.filter((item) => this.set.delete(item));
  }

  /** Removes every item; returns them. */
  clear(): string[] {
    const all = this.items();
    this.set.clear();
    return all;
  }

  /** Whether stanzas from or to `jid` are blocked. */
  matches(jid: Jid): boolean {
    if (this.set.size === 0) return false;
    const s = this.set;
    if (s.has(jid.full)) return true;
    if (jid.local !== '' && s.has(jid.bare)) return true;
    if (jid.resource !== '' && s.has(`${jid.domain}/${jid.resource}`)) return true;
    return matchesDomain(s, jid.domain);
  }
}

/** The domain or any parent domain of it is blocked (IP literals have no parents). */
function matchesDomain(items: Set<string>, domain: string): boolean {
  if (items.has(domain)) return true;
  if (domain.startsWith('[') || IPV4.test(domain)) return false;
  let rest = domain;
  for (let dot = rest.indexOf('.'); dot !== -1; dot = rest.indexOf('.')) {
    rest = rest.slice(dot + 1);
    if (rest !== '' && items.has(rest)) return true;
  }
  return false;
}
