/**
 * An ordered chain of stanza filters (session.filters.in / .out). Filters run from the highest
 * priority down; each gets what the previous returned; undefined stops the chain (the filter
 * took the stanza). A filter that throws is logged and skipped, so one broken module cannot stop
 * a session's traffic.
 */
import type { Element } from '../xml/element.js';
import type { StreamSession } from './session.js';

export type StanzaFilter = (stanza: Element, session: StreamSession) => Element | undefined;

interface Entry {
  fn: StanzaFilter;
  priority: number;
}

export class FilterChain {
  private entries: Entry[] = [];

  get size(): number {
    return this.entries.length;
  }

  /** Add a filter; returns the function that removes it. Equal priorities run in the order added. */
  add(fn: StanzaFilter, priority = 0): () => void {
    const entry = { fn, priority };
    // A new array each change: a chain being run keeps iterating the array it started with.
    this.entries = [...this.entries, entry].sort((a, b) => b.priority - a.priority);
    return () => {
      this.entries = this.entries.filter((e) => e !== entry);
    };
  }

  run(stanza: Element, session: StreamSession): Element | undefined {
    let current: Element | undefined = stanza;
    for (const e of this.entries) {
      try {
        current = e.fn(current, session);
      } catch (err) {
        session.log.error({ err }, 'stanza filter failed');
      }
      if (current === undefined) return undefined;
    }
    return current;
  }

  clear(): void {
    this.entries = [];
  }
}

/**
 * A session's two chains (Prosody's session filters): `in` for what the peer sends, before it is
 * routed; `out` for what is written to it. Each chain is made on first use, so the many sessions
 * nobody filters carry one small object.
 */
export class SessionFilters {
  private inChain: FilterChain | undefined;
  private outChain: FilterChain | undefined;

  get in(): FilterChain {
    return (this.inChain ??= new FilterChain());
  }

  get out(): FilterChain {
    return (this.outChain ??= new FilterChain());
  }

  /** The stanza after the in filters (itself when there are none); undefined when one took it. */
  runIn(stanza: Element, session: StreamSession): Element | undefined {
    const chain = this.inChain;
    return chain !== undefined && chain.size > 0 ? chain.run(stanza, session) : stanza;
  }

  /** The stanza after the out filters (itself when there are none); undefined when one took it. */
  runOut(stanza: Element, session: StreamSession): Element | undefined {
    const chain = this.outChain;
    return chain !== undefined && chain.size > 0 ? chain.run(stanza, session) : stanza;
  }
}
