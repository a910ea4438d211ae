/**
 * User avatars: XEP-0084 (PEP nodes `urn:xmpp:avatar:data` and `urn:xmpp:avatar:metadata`, which
 * clients publish to through PEP itself), XEP-0398 conversion both ways between them and the
 * vCard-temp PHOTO, and XEP-0153: the photo hash in the account's outgoing available presence.
 * See README.md for what is converted when, and how loops are avoided.
 */
import { z } from 'zod';
import { defineModule } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { KeyedQueue } from '../../util/keyed-queue.js';
import type { Element } from '../../xml/element.js';
import type {} from '../disco/api.js'; // the disco-info event
import type {} from '../pep/api.js'; // the pep service and events
import type {} from '../vcard/api.js'; // the vcard service and event
import {
  NS_AVATAR_DATA, NS_AVATAR_METADATA, NS_PEP_VCARD_CONVERSION,
  avatarPayloads, imageFromData, metadataPayload, parseMetadata, pickInfo, setPhotoUpdate, vcardPhoto, vcardPhotoHash, withPhoto,
  type AvatarImage,
} from './convert.js';
import { HashCache } from './hash-cache.js';

export * from './convert.js';

/** What the module passes as `source` to the vcard service, and skips in `vcard/updated`. */
const SOURCE = 'avatar';

/**
 * Config for the avatar nodes when the server creates them (a vCard PHOTO converted before any
 * client published): contacts with a presence subscription may read (XEP-0084 and XEP-0163's
 * default), one item. A node a client made (with publish-options `open`, say) is left as it is.
 */
const NODE_CONFIG = { access_model: 'presence', max_items: 1 } as const;

/** Before the presence module (0) copies the stanza for its broadcast, after blocking (1000). */
const PRESENCE_PRIORITY = 500;

export default defineModule({
  name: 'avatar',
  description: 'XEP-0084 User Avatar, XEP-0398 PEP ↔ vCard-temp conversion, XEP-0153 presence hash',
  depends: ['pep', 'vcard'],
  options: z.object({
    /** Put `<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>` in the account's available presence. */
    presence_hash: z.boolean().default(true),
    /** Send the account's presence again when a XEP-0084 publish changed the hash (XEP-0084-only clients never do). */
    rebroadcast_presence: z.boolean().default(true),
    /** Accounts whose current photo hash is kept in memory. */
    max_cached_hashes: z.number().int().min(1).default(10_000),
  }),
  setup(mod) {
    const { presence_hash: presenceHash, rebroadcast_presence: rebroadcast, max_cached_hashes: maxCached } = mod.options;
    const pep = mod.require('pep');
    const vcards = mod.require('vcard');
    const queue = new KeyedQueue();
    const hashes = new HashCache(maxCached);
    const conversions = mod.measure.counter('avatar_conversions_total', 'XEP-0398 conversions, by direction and outcome', ['direction', 'outcome']);

    // The hash follows the vCard; in a cluster another worker's conversion rewrites it there.
    mod.cachedStore('vcard', (username) => hashes.forget(username));

    // XEP-0398: the account says it converts.
    mod.hook('disco-info', ({ to, query }) => {
      if (to.local !== '') query.c('feature', { var: NS_PEP_VCARD_CONVERSION });
    });

    const bare = (username: string) => `${username}@${mod.host}`;

    /**
     * The account's current XEP-0153 hash: the XEP-0084 metadata if any was published, else the
     * vCard's PHOTO — which is then published to PEP (in the background): a vCard avatar set
     * before this module ran reaches XEP-0084 clients from the account's next presence on.
     */
    const loadHash = async (username: string): Promise<string> => {
      const [item] = await pep.items(username, NS_AVATAR_METADATA, { max: 1 });
      if (item) return pickInfo(parseMetadata(item.payload))?.id ?? '';
      const vcard = await vcards.get(username);
      const hash = vcardPhotoHash(vcard);
      if (hash !== '' && vcard) {
        // vcardToPep is declared below; this runs later, from a presence.
        queue.run(username, () => vcardToPep(username, vcard)).catch((err: unknown) => {
          conversions.inc({ direction: 'vcard_to_pep', outcome: 'failed' });
          mod.log.error({ err, user: bare(username) }, 'vCard PHOTO conversion to XEP-0084 failed');
        });
      }
      return hash;
    };

    /** Remember a new hash; when it changed and `announce`, the account's available resources send their presence again. */
    const hashIs = (username: string, hash: string, announce: boolean): void => {
      const before = hashes.get(username);
      hashes.set(username, hash);
      if (!announce || !rebroadcast || !presenceHash || before === hash) return;
      for (const s of mod.server.sessions.getLocalUserSessions(mod.host, username)) {
        if (s.presence === undefined) continue;
        const p = s.presence.clone();
        delete p.attrs.to;
        // As if the resource sent it again: the hook below puts the new hash in, the presence
        // module broadcasts it to the contacts and the account's other resources.
        mod.server.router.route(s, p);
      }
      mod.log.debug({ user: bare(username), hash }, 'presence sent again with the new avatar hash');
    };

    // ─────────── XEP-0084 → vCard (after a client's publish; never holds the publish) ───────────

    /** Make the vCard PHOTO what the metadata node says now. */
    const pepToVCard = async (username: string): Promise<void> => {
      const [item] = await pep.items(username, NS_AVATAR_METADATA, { max: 1 });
      const infos = parseMetadata(item?.payload);
      let image: AvatarImage | undefined;
      if (infos.length > 0) {
        const info = pickInfo(infos);
        if (!info) {
          conversions.inc({ direction: 'pep_to_vcard', outcome: 'skipped' });
          mod.log.debug({ user: bare(username) }, 'avatar not converted: only URL avatars in the metadata');
          return;
        }
        const [data] = await pep.items(username, NS_AVATAR_DATA, { ids: [info.id] });
        const found = imageFromData(info, data?.payload);
        if ('error' in found) {
          // Usually the metadata came before its data; the data's publish converts then.
          conversions.inc({ direction: 'pep_to_vcard', outcome: 'skipped' });
          mod.log.debug({ user: bare(username), id: info.id, reason: found.error }, 'avatar not converted');
          return;
        }
        image = found;
      }
      const vcard = await vcards.get(username);
      const hash = image?.id ?? '';
      if (vcardPhotoHash(vcard) === hash) {
        hashIs(username, hash, true);
        return;
      }
      if (vcard === undefined && image === undefined) return;
      try {
        await vcards.set(username, withPhoto(vcard, image), SOURCE);
      } catch (err) {
        // Over the vcard module's max_size: the PEP avatar stands, the vCard keeps its old PHOTO.
        conversions.inc({ direction: 'pep_to_vcard', outcome: 'failed' });
        mod.log.info({ user: bare(username), err: (err as Error).message }, 'avatar not copied to the vCard');
        return;
      }
      conversions.inc({ direction: 'pep_to_vcard', outcome: 'converted' });
      mod.log.debug({ user: bare(username), hash }, 'XEP-0084 avatar copied to the vCard');
      hashIs(username, hash, true);
    };

    const pepChanged = ({ username, node, publisher }: { username: string; node: string; publisher?: string }): void => {
      if (node !== NS_AVATAR_METADATA && node !== NS_AVATAR_DATA) return;
      if (publisher !== undefined && publisher === bare(username)) return; // our own conversion (below)
      queue.run(username, () => pepToVCard(username)).catch((err: unknown) => {
        conversions.inc({ direction: 'pep_to_vcard', outcome: 'failed' });
        mod.log.error({ err, user: bare(username) }, 'avatar conversion to vCard failed');
      });
    };
    mod.hook('pep/published', pepChanged);
    mod.hook('pep/retracted', pepChanged);
    mod.hook('pep/node-deleted', pepChanged);

    // ─────────── vCard → XEP-0084 (held: the client's vCard result means it is done) ───────────

    const publishOptions = async (username: string, node: string) =>
      (await pep.nodes(username)).includes(node) ? undefined : { config: { ...NODE_CONFIG } };

    const vcardToPep = async (username: string, vcard: Element): Promise<void> => {
      const photo = vcardPhoto(vcard);
      if (photo.kind === 'invalid' || photo.kind === 'external') {
        conversions.inc({ direction: 'vcard_to_pep', outcome: 'skipped' });
        mod.log.debug({ user: bare(username), kind: photo.kind }, 'vCard PHOTO not converted');
        hashes.forget(username);
        return;
      }
      const [item] = await pep.items(username, NS_AVATAR_METADATA, { max: 1 });
      const current = parseMetadata(item?.payload);
      if (photo.kind === 'none') {
        hashes.set(username, '');
        if (current.length === 0) return;
        // XEP-0084: an empty metadata item says "no avatar".
        await pep.publish(username, NS_AVATAR_METADATA, metadataPayload([]), undefined, await publishOptions(username, NS_AVATAR_METADATA));
      } else {
        const { image } = photo;
        hashes.set(username, image.id);
        if (current.some((i) => i.id === image.id)) return; // already the avatar (e.g. our own copy coming back)
        const { data, metadata } = avatarPayloads(image);
        // XEP-0084: data first, so a client told about the metadata finds the data.
        await pep.publish(username, NS_AVATAR_DATA, data, image.id, await publishOptions(username, NS_AVATAR_DATA));
        await pep.publish(username, NS_AVATAR_METADATA, metadata, image.id, await publishOptions(username, NS_AVATAR_METADATA));
      }
      conversions.inc({ direction: 'vcard_to_pep', outcome: 'converted' });
      mod.log.debug({ user: bare(username), kind: photo.kind }, 'vCard PHOTO published as XEP-0084 avatar');
    };

    mod.hook('vcard/updated', ({ username, vcard, source }) => {
      if (source === SOURCE) return undefined;
      return queue.run(username, () => vcardToPep(username, vcard)).then(
        () => false,
        (err: unknown) => {
          // The vCard is stored; only the copy failed: the client still gets its result.
          conversions.inc({ direction: 'vcard_to_pep', outcome: 'failed' });
          mod.log.error({ err, user: bare(username) }, 'vCard PHOTO conversion to XEP-0084 failed');
          return false;
        },
      );
    });

    // ─────────── XEP-0153: the hash in the account's available presence ───────────

    if (presenceHash) {
      const stamp = ({ origin, stanza }: StanzaEvent): undefined | Promise<undefined> => {
        if (origin.type !== 'c2s' || stanza.attrs.type !== undefined || origin.username === undefined) return undefined;
        const username = origin.username;
        const known = hashes.get(username);
        if (known !== undefined) {
          setPhotoUpdate(stanza, known);
          return undefined;
        }
        // Held until the hash is read: the broadcast must carry it.
        return loadHash(username).then(
          (hash) => {
            hashes.set(username, hash);
            setPhotoUpdate(stanza, hash);
            return undefined;
          },
          (err: unknown) => {
            mod.log.warn({ err, user: bare(username) }, 'avatar hash unknown: presence sent without it');
            return undefined;
          },
        );
      };
      mod.hook('pre-presence/bare', stamp, PRESENCE_PRIORITY);
      mod.hook('pre-presence/full', stamp, PRESENCE_PRIORITY);
    }

    mod.hookGlobal('user-deleted', ({ host, username }) => {
      if (host === mod.host) hashes.forget(username);
    });
  },
});
