/**
 * One PEP service per account: the engine's PubsubService for the account's bare JID with PEP's
 * policy (only the account creates and owns its nodes; publishing creates a missing node),
 * XEP-0163 node defaults, the account's roster for access decisions and the +notify fan-out.
 * Services hold no state beyond their options, so one is made per request (a few objects); the
 * stores are opened once per host.
 *
 * `AccountPubsub` fires the `pep/*` events after an operation succeeded, whether a client asked
 * (an iq) or a module did (the `pep` service below), so both are seen the same way.
 */
import { StanzaError } from '../../core/errors.js';
import type { ModuleApi } from '../../core/modules.js';
import { parseJid, type Jid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import type { CapsService } from '../caps/api.js';
import { unmetPrecondition } from '../pubsub/engine/config.js';
import type { PubsubLimits, PubsubObserver, PubsubServiceOptions } from '../pubsub/engine/core.js';
import type { PublishInput } from '../pubsub/engine/publish.js';
import { PubsubService } from '../pubsub/engine/service.js';
import { pubsubStores, type PubsubStores } from '../pubsub/engine/store.js';
import type { PepItem, PepPublishOptions, PepService } from './api.js';
import { configAsForm } from './config-form.js';
import { PEP_NODE_DEFAULTS } from './options.js';
import { notifyRecipients } from './recipients.js';
import { accountAccess } from './rosters.js';

/** The engine's service for one account, firing the `pep/*` events after each change. */
export class AccountPubsub extends PubsubService {
  constructor(
    options: PubsubServiceOptions,
    private readonly mod: ModuleApi,
    readonly username: string,
  ) {
    super(options);
  }

  override async publish(from: Jid, node: string, input: PublishInput): Promise<{ id: string }> {
    const out = await super.publish(from, node, input);
    const payload = input.item?.payloads[0];
    this.mod.fire('pep/published', { username: this.username, node, id: out.id, payload: payload?.clone(), publisher: from.full });
    return out;
  }

  override async retract(from: Jid, node: string, ids: string[], notify = false): Promise<void> {
    await super.retract(from, node, ids, notify);
    this.mod.fire('pep/retracted', { username: this.username, node, ids: [...ids], publisher: from.full });
  }

  override async delete(from: Jid, node: string, redirect?: string): Promise<void> {
    await super.delete(from, node, redirect);
    this.mod.fire('pep/node-deleted', { username: this.username, node });
  }
}

export class PepServices {
  readonly stores: PubsubStores;

  constructor(
    private readonly mod: ModuleApi,
    private readonly limits: PubsubLimits,
    private readonly caps: CapsService | undefined,
    private readonly observer: PubsubObserver,
  ) {
    // Store names as the engine's default (`pubsub-nodes`, `pubsub-items:<node>`) under the
    // account's host with username = the account: deleting the account's data deletes them.
    this.stores = pubsubStores(mod);
  }

  /** The account's bare JID. */
  jidOf(username: string): string {
    return `${username}@${this.mod.host}`;
  }

  /** The PEP service of `username` (the account is assumed to exist). */
  serviceFor(username: string): AccountPubsub {
    const own = this.jidOf(username);
    const { mod, stores, caps } = this;
    return new AccountPubsub(
      {
        jid: own,
        scope: username,
        stores,
        defaultConfig: PEP_NODE_DEFAULTS,
        policy: { mayCreate: (from) => from.bare === own, autoCreate: true, superOwners: [own] },
        access: accountAccess(mod, username),
        limits: this.limits,
        send: (stanza) => mod.send(stanza),
        now: () => mod.now(),
        extraRecipients: (node, config) => notifyRecipients(mod, caps, { username, node, config, record: () => stores.nodes.get(username, node) }),
        observer: this.observer,
      },
      mod,
      username,
    );
  }

  /** The `pep` service (api.ts): the account's nodes, changed as the account itself. */
  api(): PepService {
    const as = (username: string): { svc: AccountPubsub; me: Jid } => ({ svc: this.serviceFor(username), me: parseJid(this.jidOf(username)) });
    const limits = this.limits;
    return {
      async publish(username: string, node: string, payload: Element, id?: string, options?: PepPublishOptions): Promise<string> {
        const { svc, me } = as(username);
        const config = options?.config;
        if (config !== undefined && options?.reconfigure === true) {
          const rec = await svc.node(node);
          if (rec && unmetPrecondition(rec.config, configAsForm(config, 'publish-options'), limits) !== undefined) {
            await svc.configure(me, node, configAsForm(config, 'node_config'));
          }
        }
        const out = await svc.publish(me, node, {
          item: { id, payloads: [payload] },
          options: config === undefined ? undefined : configAsForm(config, 'publish-options'),
        });
        return out.id;
      },

      async items(username: string, node: string, opts: { ids?: string[]; max?: number } = {}): Promise<PepItem[]> {
        const { svc, me } = as(username);
        if (!(await svc.node(node))) return [];
        try {
          const items = await svc.items(me, node, opts);
          return items.map((item) => ({
            id: item.id,
            payload: item.payload === undefined ? undefined : parseXmlFragment(item.payload),
            publisher: item.publisher,
            published: item.published,
          }));
        } catch (err) {
          // Deleted in between, or a node that keeps no items: nothing to read.
          if (err instanceof StanzaError && (err.condition === 'item-not-found' || err.condition === 'feature-not-implemented')) return [];
          throw err;
        }
      },

      async retract(username: string, node: string, ids: string[]): Promise<void> {
        const { svc, me } = as(username);
        const rec = await svc.node(node);
        const known = rec ? ids.filter((id) => rec.items.includes(id)) : [];
        if (known.length === 0) return;
        await svc.retract(me, node, known);
      },

      async deleteNode(username: string, node: string): Promise<void> {
        const { svc, me } = as(username);
        if (!(await svc.node(node))) return;
        try {
          await svc.delete(me, node);
        } catch (err) {
          if (err instanceof StanzaError && err.condition === 'item-not-found') return; // deleted in between
          throw err;
        }
      },

      async nodes(username: string): Promise<string[]> {
        return (await as(username).svc.nodeNames()).sort();
      },
    };
  }
}
