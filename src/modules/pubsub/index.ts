/**
 * XEP-0060 Publish-Subscribe as a standalone service: an internal component
 * (`[[component]] domain = "pubsub.example.com" module = "pubsub"`) serving one set of nodes at
 * the component's domain, with XEP-0223 private storage semantics and publish-options. The
 * engine (engine/, protocol/) is a library PEP reuses per account; see README.md.
 */
import { defineModule } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { PubsubService } from './engine/service.js';
import { pubsubStores } from './engine/store.js';
import { findForm, parseForm } from './engine/forms.js';
import { answerPubsubIq } from './protocol/answer.js';
import { PublishRateGate, requestOp } from './rate.js';
import { discoInfo, discoItems } from './protocol/disco.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PUBSUB, NS_PUBSUB_OWNER } from './ns.js';
import { nodeDefaults, pubsubOptions } from './options.js';
import { rosterAccess } from './roster-access.js';

export { PubsubService } from './engine/service.js';
export type { PubsubServiceOptions, PubsubPolicy, PubsubLimits, PubsubObserver } from './engine/core.js';
export type { AccessResolver } from './engine/access.js';
export { pubsubStores } from './engine/store.js';
export { BASE_NODE_CONFIG } from './engine/types.js';
export type { NodeConfig, NodeRecord, PubsubItem, Subscription, Affiliation, AccessModel } from './engine/types.js';
export { checkAccess } from './engine/access.js';
export { answerPubsubIq } from './protocol/answer.js';
export { discoInfo, discoItems } from './protocol/disco.js';
export * from './ns.js';

declare module '../../core/services.js' {
  interface ServiceMap {
    /** The standalone pubsub service of a component (other modules on it publish through it). */
    pubsub: PubsubService;
  }
}

export default defineModule({
  name: 'pubsub',
  description: 'XEP-0060 Publish-Subscribe service (XEP-0223 private storage, publish-options)',
  options: pubsubOptions,
  setup(mod) {
    if (mod.server.components.get(mod.host)?.kind !== 'internal') {
      mod.log.error({ host: mod.host }, 'the pubsub module serves a [[component]] (domain = "pubsub.…", module = "pubsub"), not a virtual host: not started here');
      return;
    }
    const o = mod.options;
    const publishes = mod.measure.counter('pubsub_publishes_total', 'Items published');
    const notifications = mod.measure.counter('pubsub_notifications_total', 'Event notifications sent, by kind', ['kind']);
    const errors = mod.measure.counter('pubsub_errors_total', 'Pubsub requests refused, by stanza error condition', ['condition']);
    const requests = mod.measure.counter('pubsub_requests_total', 'Pubsub requests answered with a result');

    const service = new PubsubService({
      jid: mod.host,
      scope: '',
      stores: pubsubStores(mod),
      defaultConfig: nodeDefaults(o),
      policy: {
        mayCreate: (from) => o.creators === 'anyone' || (from.local !== '' && mod.server.hosts.has(from.domain)),
        autoCreate: o.auto_create,
        superOwners: o.admins,
      },
      access: rosterAccess(mod.server),
      limits: {
        maxItems: o.max_items_per_node,
        maxItemBytes: o.max_item_size,
        maxNodes: o.max_nodes,
        maxNodesPerOwner: o.max_nodes_per_owner,
        maxSubscriptions: o.max_subscriptions_per_node,
      },
      send: (stanza) => mod.send(stanza),
      now: () => mod.now(),
      observer: {
        published: () => publishes.inc(),
        notified: (_node, kind, n) => notifications.inc({ kind }, n),
        nodeCreated: (node, by) => mod.log.info({ node, by }, 'pubsub node created'),
        nodeDeleted: (node, by) => mod.log.info({ node, by }, 'pubsub node deleted'),
      },
    });
    mod.provides('pubsub', service);
    mod.measure.gauge('pubsub_nodes', 'Nodes in the service', [], async (g) => g.set((await service.nodeNames()).length));

    const hooks = {
      log: mod.log,
      refused: (err: { condition: string }) => errors.inc({ condition: err.condition }),
      done: () => requests.inc(),
    };
    const rate = new PublishRateGate(o, () => mod.now());
    const answer = (event: StanzaEvent): true | Promise<true> => {
      if (rate.refuse(event, requestOp(event), event.from.bare)) {
        errors.inc({ condition: 'resource-constraint' });
        mod.log.debug({ from: event.from.bare }, 'pubsub request refused: publish rate');
        return true;
      }
      return answerPubsubIq(service, event, hooks).then(() => true);
    };
    for (const type of ['get', 'set'] as const) {
      mod.hookIq(type, 'host', NS_PUBSUB, 'pubsub', answer);
      mod.hookIq(type, 'host', NS_PUBSUB_OWNER, 'pubsub', answer);
    }

    // The disco module is not loaded on a component: the service answers its own disco.
    const nodeOf = (event: StanzaEvent) => event.stanza.elements[0]?.attrs.node || undefined;
    mod.iq('get', NS_DISCO_INFO, 'query', (event) => discoInfo(service, event.from, nodeOf(event), { type: 'service', name: 'Publish-Subscribe' }));
    mod.iq('get', NS_DISCO_ITEMS, 'query', (event) => discoItems(service, event.from, nodeOf(event)));

    // Redis cluster: one node serves this domain at a time (src/cluster/redis/placement.ts,
    // docs/scaling.md). Nodes, items, subscriptions and affiliations live in storage only (every
    // request reads them), so the node taking the service has nothing to load but checks storage
    // answers; the only in-memory state, the notification rate's buckets, starts afresh on a change.
    mod.hook('cluster-service-acquired', async () => {
      rate.reset();
      const nodes = (await service.nodeNames()).length;
      mod.log.info({ nodes, owned: true }, 'serving this pubsub domain on this cluster node: nodes read from storage');
    });
    mod.hook('cluster-service-released', () => {
      rate.reset();
      mod.log.info({ owned: false }, 'another cluster node serves this pubsub domain now');
    });

    // §8.6.2: an owner answers a subscription authorization form with a message.
    mod.hook('message/host', (event) => {
      const x = findForm(event.stanza);
      if (!x) return false;
      return service.answerAuthorization(event.from, parseForm(x)).then(
        (handled) => handled,
        (err: unknown) => {
          mod.log.debug({ err, from: event.from.full }, 'pubsub authorization answer refused');
          return true;
        },
      );
    });
  },
});
