/**
 * The event bus. Handlers run from the highest priority down; the first one that returns `true`
 * has handled the event and stops it. A handler that throws is logged and recorded on the
 * payload (`handlerError`), and the event goes on to the next handler, so one broken module
 * cannot stop the others. Handlers are synchronous: async work is started inside a handler,
 * which returns `true` to claim the event.
 *
 * Event names and payload types are declared in one map (EventMap, in event-map.ts); modules
 * extend it by declaration merging, so `hook('mesage/bare', …)` is a compile error.
 */
import type { Logger } from './logging.js';
import type { EventMap } from './event-map.js';

export type EventName = keyof EventMap & string;
export type Handler<E extends EventName> = (payload: EventMap[E]) => boolean | void;

interface Entry {
  handler: (payload: never) => boolean | void;
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
    const list = this.handlers.get(event) ?? [];
    const entry: Entry = { handler: handler as Entry['handler'], priority, seq: this.seq++ };
    list.push(entry);
    list.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
    this.handlers.set(event, list);
    return () => {
      const cur = this.handlers.get(event);
      if (!cur) return;
      const i = cur.indexOf(entry);
      if (i >= 0) cur.splice(i, 1);
      if (cur.length === 0) this.handlers.delete(event);
    };
  }

  has(event: string): boolean {
    return this.handlers.has(event);
  }

  /** Fire an event; `true` if some handler returned `true`. */
  fire<E extends EventName>(event: E, payload: EventMap[E]): boolean {
    const list = this.handlers.get(event);
    if (!list) return false;
    // Iterate over a snapshot: handlers may add or remove handlers while running.
    for (const entry of list.slice()) {
      try {
        if ((entry.handler as Handler<E>)(payload) === true) return true;
      } catch (err) {
        this.log.error({ err, event }, 'event handler failed');
        if (typeof payload === 'object' && payload !== null) (payload as ErrorCarrier).handlerError = err;
      }
    }
    return false;
  }
}
