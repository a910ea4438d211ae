/**
 * The event bus. Handlers run from the highest priority down; the first one that returns `true`
 * has handled the event and stops it. A handler that throws is logged and recorded on the
 * payload (`handlerError`), and the event goes on to the next handler, so one broken module
 * cannot stop the others.
 *
 * A handler may return a promise. With `fire()` that claims the event (the work goes on in the
 * background; a rejection is logged). With `dispatch()` — what the router uses for stanza events —
 * it *holds* the event: the remaining handlers run once the promise settles, unless it resolved
 * to `true`. That lets a module finish async work (load a list, check a quota) before the stanza
 * goes on, without re-routing it.
 *
 * Event names and payload types are declared in one map (EventMap, in event-map.ts); modules
 * extend it by declaration merging, so `hook('mesage/bare', …)` is a compile error.
 */
import type { Logger } from './logging.js';
import type { EventMap } from './event-map.js';

export type EventName = keyof EventMap & string;
export type HandlerResult = boolean | void | Promise<boolean | void>;
export type Handler<E extends EventName> = (payload: EventMap[E]) => HandlerResult;

interface Entry {
  handler: (payload: never) => HandlerResult;
  priority: number;
  seq: number;
}

export interface ErrorCarrier {
  handlerError?: unknown;
}

export class EventBus {
  private readonly handlers = new Map<string, Entry[]>();
  private seq = 0;

  constructor(private readonly log: Logger) {}

  /** Add a handler; returns a function that removes it. Equal priorities run in the order added. */
  on<E extends EventName>(event: E, handler: Handler<E>, priority = 0): () => void {
    const entry: Entry = { handler: handler as Entry['handler'], priority, seq: this.seq++ };
    // Lists are replaced, never changed in place: an event being fired keeps iterating the list
    // it started with, so firing needs no copy (hooks change rarely, events fire per stanza).
    const list = [...(this.handlers.get(event) ?? []), entry].sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    this.handlers.set(event, list);
    return () => {
      const cur = this.handlers.get(event);
      if (!cur || !cur.includes(entry)) return;
      const rest = cur.filter((e) => e !== entry);
      if (rest.length === 0) this.handlers.delete(event);
      else this.handlers.set(event, rest);
    };
  }

  has(event: string): boolean {
    return this.handlers.has(event);
  }

  /** The events that have handlers (diagnostics and tests: what a host's modules answer). */
  eventNames(): string[] {
    return [...this.handlers.keys()];
  }

  /** Fire an event; `true` if some handler returned `true` (or a promise: it claimed the event). */
  fire<E extends EventName>(event: E, payload: EventMap[E]): boolean {
    const list = this.handlers.get(event);
    if (!list) return false;
    for (const entry of list) {
      const r = this.call(entry, event, payload);
      if (r === true) return true;
      if (r instanceof Promise) {
        r.catch((err: unknown) => this.failed(err, event, payload));
        return true;
      }
    }
    return false;
  }

  /**
   * Fire an event whose handlers may hold it (see the file comment): returns a boolean when no
   * handler held it, else a promise of whether some handler handled it.
   */
  dispatch<E extends EventName>(event: E, payload: EventMap[E]): boolean | Promise<boolean> {
    const list = this.handlers.get(event);
    if (!list) return false;
    return this.runFrom(list, 0, event, payload);
  }

  private runFrom<E extends EventName>(list: Entry[], start: number, event: E, payload: EventMap[E]): boolean | Promise<boolean> {
    for (let i = start; i < list.length; i++) {
      const r = this.call(list[i] as Entry, event, payload);
      if (r === true) return true;
      if (r instanceof Promise) {
        return r.then(
          (handled) => handled === true || this.runFrom(list, i + 1, event, payload),
          (err: unknown) => {
            this.failed(err, event, payload);
            return this.runFrom(list, i + 1, event, payload);
          },
        );
      }
    }
    return false;
  }

  private call<E extends EventName>(entry: Entry, event: E, payload: EventMap[E]): HandlerResult {
    try {
      return (entry.handler as Handler<E>)(payload);
    } catch (err) {
      this.failed(err, event, payload);
      return undefined;
    }
  }

  private failed(err: unknown, event: string, payload: unknown): void {
    this.log.error({ err, event }, 'event handler failed');
    if (typeof payload === 'object' && payload !== null) (payload as ErrorCarrier).handlerError = err;
  }
}
