/**
 * Pubsub errors: the coded stanza errors of the core table (src/core/errors.ts,
 * `CANTO_ERR_PUBSUB_*`) with the `pubsub#errors` child XEP-0060 §5–8 pairs with each condition.
 * Engine code throws `pubsubError(code)`; the core's iq answering turns it into the reply.
 */
import { stanzaError, type StanzaError, type StanzaErrorCode } from '../../../core/errors.js';
import { Element } from '../../../xml/element.js';
import { NS_PUBSUB_ERRORS } from '../ns.js';

/** The pubsub#errors element of each pubsub code (codes without one send only the condition). */
const PUBSUB_CHILD: Partial<Record<StanzaErrorCode, string>> = {
  CANTO_ERR_PUBSUB_NODEID_REQUIRED: 'nodeid-required',
  CANTO_ERR_PUBSUB_ITEM_REQUIRED: 'item-required',
  CANTO_ERR_PUBSUB_ITEM_FORBIDDEN: 'item-forbidden',
  CANTO_ERR_PUBSUB_PAYLOAD_REQUIRED: 'payload-required',
  CANTO_ERR_PUBSUB_INVALID_PAYLOAD: 'invalid-payload',
  CANTO_ERR_PUBSUB_INVALID_JID: 'invalid-jid',
  CANTO_ERR_PUBSUB_JID_REQUIRED: 'jid-required',
  CANTO_ERR_PUBSUB_SUBID_REQUIRED: 'subid-required',
  CANTO_ERR_PUBSUB_INVALID_SUBID: 'invalid-subid',
  CANTO_ERR_PUBSUB_INVALID_OPTIONS: 'invalid-options',
  CANTO_ERR_PUBSUB_NOT_SUBSCRIBED: 'not-subscribed',
  CANTO_ERR_PUBSUB_SUBSCRIPTION_REQUIRED: 'not-subscribed',
  CANTO_ERR_PUBSUB_PENDING_SUBSCRIPTION: 'pending-subscription',
  CANTO_ERR_PUBSUB_PRESENCE_REQUIRED: 'presence-subscription-required',
  CANTO_ERR_PUBSUB_NOT_IN_ROSTER_GROUP: 'not-in-roster-group',
  CANTO_ERR_PUBSUB_CLOSED_NODE: 'closed-node',
  CANTO_ERR_PUBSUB_PAYLOAD_TOO_BIG: 'payload-too-big',
  CANTO_ERR_PUBSUB_MAX_ITEMS_EXCEEDED: 'max-items-exceeded',
  CANTO_ERR_PUBSUB_MAX_NODES_EXCEEDED: 'max-nodes-exceeded',
  CANTO_ERR_PUBSUB_TOO_MANY_SUBSCRIPTIONS: 'too-many-subscriptions',
  CANTO_ERR_PUBSUB_PRECONDITION_NOT_MET: 'precondition-not-met',
  CANTO_ERR_PUBSUB_UNSUPPORTED: 'unsupported',
};

/** A coded error with its pubsub#errors child (`feature` only for CANTO_ERR_PUBSUB_UNSUPPORTED). */
export function pubsubError(code: StanzaErrorCode, text?: string, feature?: string): StanzaError {
  const child = PUBSUB_CHILD[code];
  const app = child === undefined ? undefined : new Element(child, { xmlns: NS_PUBSUB_ERRORS, feature });
  return stanzaError(code, text, app);
}

/** `feature-not-implemented` + `<unsupported feature='…'/>`. */
export function unsupported(feature: string, text?: string): StanzaError {
  return pubsubError('CANTO_ERR_PUBSUB_UNSUPPORTED', text ?? `the ${feature} feature is not supported`, feature);
}

/** The node does not exist (item-not-found, no pubsub child). */
export function nodeNotFound(node: string): StanzaError {
  return stanzaError('CANTO_ERR_ITEM_NOT_FOUND', `no node ${node}`);
}
