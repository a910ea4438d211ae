/**
 * XEP-0352 Client State Indication: a client says <inactive/> when its user is away from the
 * screen and <active/> when back. While inactive, an out filter on the session holds presence
 * updates and chat-state-only messages (the latest per sender) and lets everything else through;
 * what is important flushes the held stanzas first (classify.ts). See README.md.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import type { StreamSession } from '../../core/session.js';
import type { Element } from '../../xml/element.js';
import { classify } from './classify.js';
import { HeldStanzas } from './held.js';

export const NS_CSI = 'urn:xmpp:csi:0';

/**
 * CSI's out filter runs high, so what it holds is not seen by filters that count or queue what is
 * written (stream management goes below it). A filter above it would see a held stanza twice.
 */
export const CSI_FILTER_PRIORITY = 500;

type FlushReason = 'active' | 'important' | 'limit';

interface Inactive {
  held: HeldStanzas;
  removeFilter: () => void;
  /** Set while the held stanzas are re-sent, so the filter lets them pass. */
  flushing: boolean;
}

export default defineModule({
  name: 'csi',
  description: 'XEP-0352 Client State Indication',
  options: z.object({
    /** Held stanzas (distinct senders and kinds) per session before they are all sent. */
    max_held: z.number().int().min(1).default(100),
  }),
  setup(mod) {
    const maxHeld = mod.options.max_held;
    const state = new WeakMap<StreamSession, Inactive>();
    const heldTotal = mod.measure.counter('csi_held_total', 'Stanzas held for inactive clients');
    const superseded = mod.measure.counter('csi_superseded_total', 'Held stanzas replaced by a newer one from the same sender (never sent)');
    const flushes = mod.measure.counter('csi_flushes_total', 'Times the held stanzas of a session were sent, by reason', ['reason']);

    const flush = (session: StreamSession, s: Inactive, reason: FlushReason): void => {
      const stanzas = s.held.take();
      if (stanzas.length === 0) return;
      flushes.inc({ reason });
      session.log.debug({ reason, count: stanzas.length }, 'csi flush');
      s.flushing = true;
      try {
        for (const stanza of stanzas) session.send(stanza);
      } finally {
        s.flushing = false;
      }
    };

    const filterFor = (s: Inactive) => (stanza: Element, session: StreamSession): Element | undefined => {
      if (s.flushing) return stanza;
      const c = classify(stanza);
      if (c.kind === 'pass') return stanza;
      if (c.kind === 'important') {
        flush(session, s, 'important');
        return stanza;
      }
      if (s.held.hold(c.key, stanza)) superseded.inc();
      heldTotal.inc();
      if (s.held.size > maxHeld) flush(session, s, 'limit');
      return undefined;
    };

    const setInactive = (session: StreamSession): void => {
      if (state.has(session)) return;
      const s: Inactive = { held: new HeldStanzas(), removeFilter: () => {}, flushing: false };
      s.removeFilter = session.filters.out.add(filterFor(s), CSI_FILTER_PRIORITY);
      state.set(session, s);
      session.log.debug('csi inactive');
    };

    const setActive = (session: StreamSession): void => {
      const s = state.get(session);
      if (!s) return;
      state.delete(session);
      s.removeFilter();
      flush(session, s, 'active');
      session.log.debug('csi active');
    };

    // After authentication (the features of the restarted stream): §2.
    mod.hook('stream-features', ({ origin, features }) => {
      if (origin.type === 'c2s') features.c('csi', { xmlns: NS_CSI });
    });

    // XEP-0386 Bind2: the initial state, inline at login (events of the sasl2 module).
    mod.hook('bind2-features', ({ features }) => {
      features.push(NS_CSI);
    });
    mod.hook('bind2-inline', ({ session, request }) => {
      if (request.getChild('inactive', NS_CSI) !== undefined) setInactive(session);
    });

    // XEP-0352 §5.2: a resumed stream (XEP-0198) starts active again; the client says
    // <inactive/> anew if it still is. The flush waits for the end of the current job: the
    // resumption writes <resumed/> (or SASL2's <success/>) and re-sends the unacknowledged
    // stanzas in the same synchronous step after this event, and held stanzas must follow them.
    mod.hook('session-resumed', ({ session }) => {
      if (!state.has(session)) return;
      queueMicrotask(() => {
        if (session.destroyed) return;
        session.log.debug('csi: a resumed stream starts active (XEP-0352 §5.2)');
        setActive(session);
      });
    });

    mod.hook('stream-element', ({ origin, element }) => {
      if (element.xmlns !== NS_CSI || origin.type !== 'c2s') return undefined;
      if (element.name === 'inactive') setInactive(origin);
      else if (element.name === 'active') setActive(origin);
      else return undefined;
      return true;
    });
  },
});
