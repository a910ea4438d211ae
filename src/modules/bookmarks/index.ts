/**
 * Bookmarks of group chats: XEP-0402 (`urn:xmpp:bookmarks:1`, one PEP item per room, published
 * by clients through PEP itself) kept the same list as XEP-0048 bookmarks in private XML
 * (`storage:bookmarks` through jabber:iq:private: `urn:xmpp:bookmarks:1#compat`) and in the
 * legacy PEP node `storage:bookmarks` (`#compat-pep`). README.md says which write updates what.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import { KeyedQueue } from '../../util/keyed-queue.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { NS_PUBSUB } from '../pubsub/ns.js';
import type { Element } from '../../xml/element.js';
import type { NodeConfig } from '../pubsub/engine/types.js';
import type {} from '../disco/api.js'; // the disco-info event
import type {} from '../pep/api.js'; // the pep service and events
import type {} from '../private/api.js'; // the private service and event
import {
  LEGACY_ITEM_ID, NS_BOOKMARKS2, NS_BOOKMARKS2_COMPAT, NS_BOOKMARKS2_COMPAT_PEP, NS_LEGACY,
  diffBookmarks, fromItems, parseLegacy, toConference2, toLegacy,
} from './convert.js';

export * from './convert.js';

/** What the module passes as `source` to the private service, and skips in `private/stored`. */
const SOURCE = 'bookmarks';

/** XEP-0402: the node config every bookmark publish asks for (the server's too). */
export const BOOKMARKS2_CONFIG: Partial<NodeConfig> = {
  access_model: 'whitelist',
  persist_items: true,
  max_items: 'max',
  send_last_published_item: 'never',
};

/** XEP-0048 (over PEP): private, persistent. */
export const LEGACY_PEP_CONFIG: Partial<NodeConfig> = { access_model: 'whitelist', persist_items: true };

type Direction = 'private_to_pep' | 'legacy_pep_to_pep' | 'pep_to_private' | 'migration';

/** Above PEP's own handler (0): looks at the request, never answers it. */
const MIGRATION_PRIORITY = 10;

export default defineModule({
  name: 'bookmarks',
  description: 'XEP-0402 PEP Native Bookmarks, in sync with XEP-0048 private XML and legacy PEP bookmarks',
  depends: ['pep', 'private'],
  options: z.object({
    /** Keep the legacy PEP node `storage:bookmarks` (XEP-0048 over PEP) in the same list too. */
    legacy_pep: z.boolean().default(true),
  }),
  setup(mod) {
    const { legacy_pep: legacyPep } = mod.options;
    const pep = mod.require('pep');
    const privateXml = mod.require('private');
    const queue = new KeyedQueue();
    const conversions = mod.measure.counter('bookmarks_conversions_total', 'Bookmark synchronisations, by direction and outcome', ['direction', 'outcome']);
    const bare = (username: string) => `${username}@${mod.host}`;

    mod.hook('disco-info', ({ to, query }) => {
      if (to.local === '') return;
      // XEP-0402: advertised on the account, where clients look before relying on it.
      query.c('feature', { var: NS_BOOKMARKS2_COMPAT });
      if (legacyPep) query.c('feature', { var: NS_BOOKMARKS2_COMPAT_PEP });
    });

    // Server-side publishes are made as the account (publisher = its bare JID): the events they
    // fire are recognised by that and skipped. `reconfigure`: a node a client made with another
    // config is brought to the one the XEP requires instead of failing the sync.
    const publish2 = (username: string, id: string, payload: Element) =>
      pep.publish(username, NS_BOOKMARKS2, payload, id, { config: BOOKMARKS2_CONFIG, reconfigure: true });

    /** Publish the legacy PEP item when it differs from `storage`. */
    const syncLegacyPep = async (username: string, storage: Element): Promise<boolean> => {
      const [item] = await pep.items(username, NS_LEGACY, { max: 1 });
      if (item?.payload?.toString() === storage.toString()) return false;
      await pep.publish(username, NS_LEGACY, storage, LEGACY_ITEM_ID, { config: LEGACY_PEP_CONFIG, reconfigure: true });
      return true;
    };

    /**
     * A XEP-0048 list was written (private XML or the legacy PEP node): make the XEP-0402 items
     * that list (publish new and changed rooms, retract removed ones), then the other XEP-0048 copy.
     */
    const fromLegacy = async (username: string, storages: Element[], from: 'private' | 'legacy_pep'): Promise<boolean> => {
      const legacy = parseLegacy(storages);
      const items = await pep.items(username, NS_BOOKMARKS2);
      const current = new Map(items.map((i) => [i.id, i.payload] as const));
      const { publish, retract } = diffBookmarks(current, legacy.bookmarks);
      for (const b of publish) await publish2(username, b.jid, toConference2(b));
      if (retract.length > 0) await pep.retract(username, NS_BOOKMARKS2, retract);
      let changed = publish.length > 0 || retract.length > 0;
      const storage = toLegacy(legacy.bookmarks, legacy.others);
      if (from === 'private' && legacyPep) changed = (await syncLegacyPep(username, storage)) || changed;
      if (from === 'legacy_pep') {
        const old = await privateXml.get(username, NS_LEGACY);
        if (old.map(String).join('') !== storage.toString()) {
          await privateXml.set(username, NS_LEGACY, [storage], SOURCE);
          changed = true;
        }
      }
      mod.log.debug({ user: bare(username), from, published: publish.length, retracted: retract.length }, 'XEP-0048 bookmarks copied to XEP-0402');
      return changed;
    };

    /**
     * The XEP-0402 items changed: rewrite the XEP-0048 copies from them. `<url/>` bookmarks and
     * other elements of the private storage have no XEP-0402 form and are kept.
     */
    const fromBookmarks2 = async (username: string): Promise<boolean> => {
      const bookmarks = fromItems(await pep.items(username, NS_BOOKMARKS2));
      const old = await privateXml.get(username, NS_LEGACY);
      const storage = toLegacy(bookmarks, parseLegacy(old).others);
      let changed = false;
      if (old.map(String).join('') !== storage.toString()) {
        await privateXml.set(username, NS_LEGACY, [storage], SOURCE);
        changed = true;
      }
      if (legacyPep) changed = (await syncLegacyPep(username, storage)) || changed;
      mod.log.debug({ user: bare(username), rooms: bookmarks.length, changed }, 'XEP-0402 bookmarks copied to XEP-0048');
      return changed;
    };

    const run = (username: string, direction: Direction, work: () => Promise<boolean>): Promise<void> =>
      queue.run(username, work).then(
        (changed) => conversions.inc({ direction, outcome: changed ? 'converted' : 'unchanged' }),
        (err: unknown) => {
          conversions.inc({ direction, outcome: 'failed' });
          mod.log.error({ err, user: bare(username), direction }, 'bookmarks synchronisation failed');
        },
      );

    // A client adding 50 rooms publishes 50 items: one rewrite waiting per account is enough,
    // as it reads the items when it starts.
    const rewriteWaiting = new Set<string>();
    const rewrite = (username: string): void => {
      if (rewriteWaiting.has(username)) return;
      rewriteWaiting.add(username);
      void run(username, 'pep_to_private', () => {
        rewriteWaiting.delete(username);
        return fromBookmarks2(username);
      });
    };

    /**
     * Bookmarks kept in private XML before this module ran (Canto had XEP-0049 first) have no
     * XEP-0402 node yet: the first time the account reads its XEP-0402 (or legacy PEP) bookmarks,
     * they are copied over before PEP answers, so a new client sees the old list.
     */
    const migrate = async (username: string): Promise<boolean> => {
      const nodes = await pep.nodes(username);
      if (nodes.includes(NS_BOOKMARKS2)) return false;
      const stored = await privateXml.get(username, NS_LEGACY);
      if (parseLegacy(stored).bookmarks.length === 0) return false;
      mod.log.info({ user: bare(username) }, 'XEP-0048 bookmarks migrated to XEP-0402');
      return fromLegacy(username, stored, 'private');
    };
    mod.hookIq('get', 'bare', NS_PUBSUB, 'pubsub', ({ stanza, from, to }: StanzaEvent) => {
      const node = stanza.getChild('pubsub', NS_PUBSUB)?.getChild('items')?.attrs.node;
      if (from.bare !== to.bare || (node !== NS_BOOKMARKS2 && !(legacyPep && node === NS_LEGACY))) return undefined;
      return run(to.local, 'migration', () => migrate(to.local)).then(() => false);
    }, MIGRATION_PRIORITY);

    // Private XML: held, so the client's result means PEP has the list too.
    mod.hook('private/stored', ({ username, ns, elements, source }) => {
      if (ns !== NS_LEGACY || source === SOURCE) return undefined;
      return run(username, 'private_to_pep', () => fromLegacy(username, elements, 'private')).then(() => false);
    });

    // PEP events must not be held: the work goes on in the background, one account at a time.
    mod.hook('pep/published', ({ username, node, payload, publisher }) => {
      if (publisher === bare(username)) return; // our own publishes (above)
      if (node === NS_BOOKMARKS2) rewrite(username);
      else if (node === NS_LEGACY && legacyPep && payload !== undefined) {
        void run(username, 'legacy_pep_to_pep', () => fromLegacy(username, [payload], 'legacy_pep'));
      }
    });
    mod.hook('pep/retracted', ({ username, node, publisher }) => {
      if (node === NS_BOOKMARKS2 && publisher !== bare(username)) rewrite(username);
    });
    mod.hook('pep/node-deleted', ({ username, node }) => {
      // Deleting the XEP-0402 node removes every room bookmark (a server-side delete never happens here).
      if (node === NS_BOOKMARKS2) rewrite(username);
    });
  },
});
