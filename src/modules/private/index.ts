/**
 * XEP-0049 Private XML Storage: a user stores arbitrary XML fragments on the server, one set of
 * elements per namespace, and reads them back by namespace. Only the account itself may read or
 * write its storage. Options are in `[modules.private]` (docs/configuration.md).
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { stanzaError } from '../../core/errors.js';
import { size } from '../../core/option-schemas.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { checkNamespace, groupByNamespace } from './payload.js';
import type { PrivateSource } from './api.js';

export type { PrivateService, PrivateSource } from './api.js';

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
    // XEP-0049 defines no disco feature of its own, but clients (Gajim) look for its namespace in
    // the server's disco#info before using it, as Prosody and ejabberd advertise it.
    mod.addFeature(NS_PRIVATE);

    /** The common checks, at once: the query's children, or a thrown coded error. */
    const validate = ({ from, to, stanza }: StanzaEvent): Element[] => {
      if (from.bare !== to.bare) throw stanzaError('CANTO_ERR_FORBIDDEN', 'you can only access your own private storage');
      const children = stanza.getChild('query', NS_PRIVATE)?.elements ?? [];
      // §2.3: "at least one child element with a proper namespace MUST be included".
      if (children.length === 0) throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', 'the query must contain an element in its own namespace');
      for (const child of children) {
        const problem = checkNamespace(child.xmlns);
        if (problem) throw stanzaError('CANTO_ERR_NOT_ACCEPTABLE', problem);
      }
      return children;
    };

    /** The stored elements of one namespace in a <query/> (the element asked for, empty, when there are none). */
    const read = async (username: string, wanted: Element): Promise<Element> => {
      const elements = await stored(username, wanted.xmlns);
      const query = new Element('query', { xmlns: NS_PRIVATE });
      if (elements.length === 0) query.c(wanted.name, { xmlns: wanted.xmlns });
      else for (const el of elements) query.cnode(el);
      return query;
    };

    /** The stored elements of one namespace, parsed (fresh copies). */
    const stored = async (username: string, ns: string): Promise<Element[]> =>
      ((await store.get(username, ns)) ?? []).map((text) => parseXmlFragment(text, { defaultNs: ns }));

    /**
     * Replace one namespace and tell the modules that derive data from it (`private/stored`,
     * waited for: the client's answer means their work is done too).
     */
    const replace = async (username: string, ns: string, texts: string[], source: PrivateSource): Promise<void> => {
      await store.set(username, ns, texts.length === 0 ? undefined : texts);
      const elements = texts.map((text) => parseXmlFragment(text, { defaultNs: ns }));
      await mod.dispatch('private/stored', { username, ns, elements, source });
    };

    mod.provides('private', {
      get: stored,
      async set(username, ns, elements, source) {
        if (elements.some((e) => e.xmlns !== ns)) throw new Error(`private.set: every element must be in ${ns}`);
        await replace(username, ns, elements.map((e) => e.clone().toString()), source);
      },
    });

    /** Store the namespaces of a set (each replaces what was stored in it; others are untouched). */
    const write = async (user: StanzaEvent['to'], groups: Map<string, string[]>): Promise<undefined> => {
      const username = user.local;
      const existing = new Set(await store.keys(username));
      const added = [...groups.keys()].filter((ns) => !existing.has(ns)).length;
      if (existing.size + added > maxNamespaces) {
        mod.log.info({ user: user.bare, namespaces: existing.size + added }, 'private XML refused: too many namespaces');
        throw stanzaError('CANTO_ERR_POLICY_VIOLATION', `at most ${maxNamespaces} namespaces can be stored`);
      }
      for (const [ns, texts] of groups) await replace(username, ns, texts, 'client');
      mod.log.debug({ user: user.bare, namespaces: [...groups.keys()] }, 'private XML stored');
      return undefined;
    };

    // A storage failure is thrown on: the core answers internal-server-error (and logs it).
    mod.iq(
      'get',
      NS_PRIVATE,
      'query',
      (event) => {
        const children = validate(event);
        const [wanted] = children;
        // §2.3: a client MUST NOT query for more than one namespace in a single get.
        if (!wanted || children.length > 1) throw stanzaError('CANTO_ERR_BAD_REQUEST', 'ask for one namespace per request');
        return read(event.to.local, wanted);
      },
      { to: 'bare' },
    );

    mod.iq(
      'set',
      NS_PRIVATE,
      'query',
      (event) => {
        const groups = groupByNamespace(validate(event));
        for (const [ns, texts] of groups) {
          const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);
          if (bytes > maxSize) {
            mod.log.info({ user: event.to.bare, ns, bytes, maxSize }, 'private XML refused: too large');
            throw stanzaError('CANTO_ERR_POLICY_VIOLATION', `the data for ${ns} is larger than ${maxSize} bytes`);
          }
        }
        return write(event.to, groups);
      },
      { to: 'bare' },
    );
  },
});
