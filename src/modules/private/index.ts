/**
 * XEP-0049 Private XML Storage: a user stores arbitrary XML fragments on the server, one set of
 * elements per namespace, and reads them back by namespace. Only the account itself may read or
 * write its storage. Options are in `[modules.private]` (docs/configuration.md).
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { size } from '../../core/option-schemas.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { errorReply, reply } from '../../xml/stanza.js';
import { checkNamespace, groupByNamespace } from './payload.js';

export const NS_PRIVATE = 'jabber:iq:private';
/** Storage: map store, key = namespace, value = the serialized elements stored in it. */
export const PRIVATE_STORE = 'private';

export default defineModule({
  name: 'private',
  description: 'XEP-0049 Private XML Storage',
  options: z.object({
    max_size: size('256 KiB'),
    max_namespaces: z.number().int().min(1).default(100),
  }),
  setup(mod) {
    const { max_size: maxSize, max_namespaces: maxNamespaces } = mod.options;
    const store = mod.map<string[]>(PRIVATE_STORE);
    // XEP-0049 defines no disco feature; clients probe with an IQ. Nothing to advertise.

    const answer = (event: StanzaEvent, work: () => Promise<Element>): void => {
      work().then(
        (stanza) => event.origin.send(stanza),
        (err: unknown) => {
          mod.log.error({ err, from: event.from.full }, 'private storage request failed');
          event.origin.send(errorReply(event.stanza, 'internal-server-error'));
        },
      );
    };

    /** The common checks; returns the query's children, or undefined after sending an error. */
    const validate = (event: StanzaEvent): Element[] | undefined => {
      const { from, to, stanza, origin } = event;
      if (from.bare !== to.bare) {
        origin.send(errorReply(stanza, 'forbidden', 'you can only access your own private storage'));
        return undefined;
      }
      const children = stanza.getChild('query', NS_PRIVATE)?.elements ?? [];
      if (children.length === 0) {
        // §2.3: "at least one child element with a proper namespace MUST be included".
        origin.send(errorReply(stanza, 'not-acceptable', 'the query must contain an element in its own namespace'));
        return undefined;
      }
      for (const child of children) {
        const problem = checkNamespace(child.xmlns);
        if (problem) {
          origin.send(errorReply(stanza, 'not-acceptable', problem));
          return undefined;
        }
      }
      return children;
    };

    const onGet = (event: StanzaEvent): true => {
      const children = validate(event);
      if (!children) return true;
      const [wanted] = children;
      if (!wanted || children.length > 1) {
        // §2.3: a client MUST NOT query for more than one namespace in a single get.
        event.origin.send(errorReply(event.stanza, 'bad-request', 'ask for one namespace per request'));
        return true;
      }
      answer(event, async () => {
        const stored = await store.get(event.to.local, wanted.xmlns);
        const query = reply(event.stanza).c('query', { xmlns: NS_PRIVATE });
        if (stored === undefined || stored.length === 0) {
          // Nothing stored: the element asked for, empty.
          query.c(wanted.name, { xmlns: wanted.xmlns });
        } else {
          for (const text of stored) query.cnode(parseXmlFragment(text, { defaultNs: wanted.xmlns }));
        }
        return query.root();
      });
      return true;
    };

    const onSet = (event: StanzaEvent): true => {
      const children = validate(event);
      if (!children) return true;
      const groups = groupByNamespace(children);
      for (const [ns, texts] of groups) {
        const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
        if (bytes > maxSize) {
          mod.log.info({ user: event.to.bare, ns, bytes, maxSize }, 'private XML refused: too large');
          event.origin.send(errorReply(event.stanza, 'policy-violation', `the data for ${ns} is larger than ${maxSize} bytes`));
          return true;
        }
      }
      answer(event, async () => {
        const username = event.to.local;
        const existing = new Set(await store.keys(username));
        const added = [...groups.keys()].filter((ns) => !existing.has(ns)).length;
        if (existing.size + added > maxNamespaces) {
          mod.log.info({ user: event.to.bare, namespaces: existing.size + added }, 'private XML refused: too many namespaces');
          return errorReply(event.stanza, 'policy-violation', `at most ${maxNamespaces} namespaces can be stored`);
        }
        // Each namespace in the set replaces what was stored in it; others are untouched.
        for (const [ns, texts] of groups) await store.set(username, ns, texts);
        mod.log.debug({ user: event.to.bare, namespaces: [...groups.keys()] }, 'private XML stored');
        return reply(event.stanza);
      });
      return true;
    };

    mod.hookIq('get', 'bare', NS_PRIVATE, 'query', onGet);
    mod.hookIq('set', 'bare', NS_PRIVATE, 'query', onSet);
  },
});
