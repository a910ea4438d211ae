/** The namespaces of XEP-0060 and the data forms it uses. */
export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const NS_PUBSUB_OWNER = 'http://jabber.org/protocol/pubsub#owner';
export const NS_PUBSUB_EVENT = 'http://jabber.org/protocol/pubsub#event';
export const NS_PUBSUB_ERRORS = 'http://jabber.org/protocol/pubsub#errors';
export const NS_DATA = 'jabber:x:data';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
export const NS_SHIM = 'http://jabber.org/protocol/shim';

/** FORM_TYPEs of the forms XEP-0060 defines. */
export const FORM_NODE_CONFIG = 'http://jabber.org/protocol/pubsub#node_config';
export const FORM_META_DATA = 'http://jabber.org/protocol/pubsub#meta-data';
export const FORM_PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options';
export const FORM_SUBSCRIBE_OPTIONS = 'http://jabber.org/protocol/pubsub#subscribe_options';
export const FORM_SUBSCRIBE_AUTHORIZATION = 'http://jabber.org/protocol/pubsub#subscribe_authorization';

/**
 * The `http://jabber.org/protocol/pubsub#<feature>` features this engine implements, with the
 * names XEP-0060 §10 registers (also the `feature` of an `<unsupported/>` error). A service
 * advertises each as `NS_PUBSUB#feature` in its disco#info.
 */
export const PUBSUB_FEATURES = [
  'access-authorize',
  'access-open',
  'access-presence',
  'access-roster',
  'access-whitelist',
  'auto-create',
  'config-node',
  'config-node-max',
  'create-and-configure',
  'create-nodes',
  'delete-items',
  'delete-nodes',
  'instant-nodes',
  'item-ids',
  'last-published',
  'manage-subscriptions',
  'member-affiliation',
  'meta-data',
  'modify-affiliations',
  'multi-items',
  'outcast-affiliation',
  'persistent-items',
  'publish',
  'publish-only-affiliation',
  'publish-options',
  'publisher-affiliation',
  'purge-nodes',
  'retract-items',
  'retrieve-affiliations',
  'retrieve-default',
  'retrieve-default-sub',
  'retrieve-items',
  'retrieve-subscriptions',
  'subscribe',
  'subscription-options',
  'subscription-notifications',
] as const;
