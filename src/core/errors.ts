/**
 * The one table of Canto's coded errors: each code names what went wrong and the XMPP condition
 * it becomes (a stanza error, a stream error, a SASL failure) or the class of failure it is
 * (configuration, storage). Codes are stable: tests assert them and docs/errors.md lists them
 * (a test keeps the two in step). Modules throw `stanzaError(code)` from `mod.iq` handlers; the
 * core turns it into the error reply.
 */
import type { Element } from '../xml/element.js';
import { errorReply, stanzaError as buildStanzaError, DEFAULT_ERROR_TYPE, type ErrorType, type StanzaErrorCondition } from '../xml/stanza.js';
import type { StreamErrorCondition } from './stream-errors.js';

type StanzaCode = { kind: 'stanza'; condition: StanzaErrorCondition; type?: ErrorType; text: string };
type StreamCode = { kind: 'stream'; condition: StreamErrorCondition; text: string };
type SaslCode = { kind: 'sasl'; condition: string; text: string };
type OtherCode = { kind: 'config' | 'storage' | 'module'; text: string };
export type ErrorSpec = StanzaCode | StreamCode | SaslCode | OtherCode;

/** Every coded error. Add new codes here (and to docs/errors.md). */
export const ERRORS = {
  // Stanza errors (RFC 6120 §8.3.3), the common ones modules answer with.
  CANTO_ERR_BAD_REQUEST: { kind: 'stanza', condition: 'bad-request', text: 'the request is malformed' },
  CANTO_ERR_ITEM_NOT_FOUND: { kind: 'stanza', condition: 'item-not-found', text: 'no such item' },
  CANTO_ERR_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: 'not allowed for this account' },
  CANTO_ERR_NOT_ALLOWED: { kind: 'stanza', condition: 'not-allowed', text: 'this action is not allowed' },
  CANTO_ERR_NOT_ACCEPTABLE: { kind: 'stanza', condition: 'not-acceptable', text: 'the request was not acceptable' },
  CANTO_ERR_CONFLICT: { kind: 'stanza', condition: 'conflict', text: 'conflicts with an existing item' },
  CANTO_ERR_SERVICE_UNAVAILABLE: { kind: 'stanza', condition: 'service-unavailable', text: 'the service is not available' },
  CANTO_ERR_FEATURE_NOT_IMPLEMENTED: { kind: 'stanza', condition: 'feature-not-implemented', text: 'not implemented' },
  CANTO_ERR_RESOURCE_CONSTRAINT: { kind: 'stanza', condition: 'resource-constraint', text: 'the server is too busy or a limit is reached' },
  CANTO_ERR_POLICY_VIOLATION: { kind: 'stanza', condition: 'policy-violation', text: 'refused by the server policy' },
  CANTO_ERR_JID_MALFORMED: { kind: 'stanza', condition: 'jid-malformed', text: 'the address is not a valid JID' },
  CANTO_ERR_REMOTE_SERVER_NOT_FOUND: { kind: 'stanza', condition: 'remote-server-not-found', text: 'no route to the remote domain' },
  CANTO_ERR_INTERNAL: { kind: 'stanza', condition: 'internal-server-error', text: 'the server failed to handle the request' },
  CANTO_ERR_UNEXPECTED_REQUEST: { kind: 'stanza', condition: 'unexpected-request', text: 'the request was not expected now' },
  // Publish-subscribe (XEP-0060 §5–8): the pubsub module adds the pubsub#errors child of each (src/modules/pubsub/engine/errors.ts).
  CANTO_ERR_PUBSUB_NODEID_REQUIRED: { kind: 'stanza', condition: 'bad-request', text: 'the request must name a node' },
  CANTO_ERR_PUBSUB_ITEM_REQUIRED: { kind: 'stanza', condition: 'bad-request', text: 'the request must contain an item' },
  CANTO_ERR_PUBSUB_ITEM_FORBIDDEN: { kind: 'stanza', condition: 'bad-request', text: 'this node takes no items' },
  CANTO_ERR_PUBSUB_PAYLOAD_REQUIRED: { kind: 'stanza', condition: 'bad-request', text: 'the item must contain a payload' },
  CANTO_ERR_PUBSUB_INVALID_PAYLOAD: { kind: 'stanza', condition: 'bad-request', text: 'the item payload is not valid for this node' },
  CANTO_ERR_PUBSUB_INVALID_JID: { kind: 'stanza', condition: 'bad-request', text: 'the JID does not match the requesting entity' },
  CANTO_ERR_PUBSUB_JID_REQUIRED: { kind: 'stanza', condition: 'bad-request', text: 'the request must name a JID' },
  CANTO_ERR_PUBSUB_SUBID_REQUIRED: { kind: 'stanza', condition: 'bad-request', text: 'the request must name a subscription id' },
  CANTO_ERR_PUBSUB_INVALID_SUBID: { kind: 'stanza', condition: 'not-acceptable', text: 'no subscription with this id' },
  CANTO_ERR_PUBSUB_INVALID_OPTIONS: { kind: 'stanza', condition: 'bad-request', text: 'the subscription options are not valid' },
  CANTO_ERR_PUBSUB_NOT_SUBSCRIBED: { kind: 'stanza', condition: 'unexpected-request', type: 'cancel', text: 'not subscribed to this node' },
  CANTO_ERR_PUBSUB_SUBSCRIPTION_REQUIRED: { kind: 'stanza', condition: 'not-authorized', text: 'only subscribers may retrieve the items of this node' },
  CANTO_ERR_PUBSUB_PENDING_SUBSCRIPTION: { kind: 'stanza', condition: 'not-authorized', text: 'the subscription is waiting for approval' },
  CANTO_ERR_PUBSUB_PRESENCE_REQUIRED: { kind: 'stanza', condition: 'not-authorized', text: 'a presence subscription to the node owner is required' },
  CANTO_ERR_PUBSUB_NOT_IN_ROSTER_GROUP: { kind: 'stanza', condition: 'not-authorized', text: 'not in a roster group allowed for this node' },
  CANTO_ERR_PUBSUB_CLOSED_NODE: { kind: 'stanza', condition: 'not-allowed', text: 'this node is only for its whitelist' },
  CANTO_ERR_PUBSUB_PAYLOAD_TOO_BIG: { kind: 'stanza', condition: 'not-acceptable', text: 'the item is larger than allowed' },
  CANTO_ERR_PUBSUB_MAX_ITEMS_EXCEEDED: { kind: 'stanza', condition: 'not-acceptable', text: 'more items per node than allowed' },
  CANTO_ERR_PUBSUB_MAX_NODES_EXCEEDED: { kind: 'stanza', condition: 'policy-violation', text: 'more nodes than allowed' },
  CANTO_ERR_PUBSUB_TOO_MANY_SUBSCRIPTIONS: { kind: 'stanza', condition: 'policy-violation', type: 'wait', text: 'this node has as many subscriptions as allowed' },
  CANTO_ERR_PUBSUB_PRECONDITION_NOT_MET: { kind: 'stanza', condition: 'conflict', text: 'the node configuration does not match the publish options' },
  CANTO_ERR_PUBSUB_UNSUPPORTED: { kind: 'stanza', condition: 'feature-not-implemented', text: 'this pubsub feature is not supported' },
  CANTO_ERR_PUBSUB_RATE_LIMITED: { kind: 'stanza', condition: 'resource-constraint', type: 'wait', text: 'too many publications in a short time: wait and try again' },
  CANTO_ERR_PUBSUB_INVALID_CONFIG: { kind: 'stanza', condition: 'not-acceptable', text: 'the node configuration is not valid' },
  // Push notifications (XEP-0357 §5, §6: <enable/> and <disable/>; src/modules/push).
  CANTO_ERR_PUSH_JID_REQUIRED: { kind: 'stanza', condition: 'bad-request', text: "the request must name the app server in 'jid'" },
  CANTO_ERR_PUSH_NODE_REQUIRED: { kind: 'stanza', condition: 'bad-request', text: "enabling push needs the app server's 'node'" },
  CANTO_ERR_PUSH_INVALID_FORM: { kind: 'stanza', condition: 'bad-request', text: 'the publish-options are not a submitted pubsub#publish-options form' },
  CANTO_ERR_PUSH_TOO_MANY_REGISTRATIONS: { kind: 'stanza', condition: 'policy-violation', text: 'the account has as many push registrations as allowed' },
  // HTTP File Upload (XEP-0363 §5): the upload module's slot refusals.
  CANTO_ERR_UPLOAD_NOT_ALLOWED: { kind: 'stanza', condition: 'not-allowed', text: 'only users of the domains this service is for may upload' },
  CANTO_ERR_UPLOAD_BAD_FILENAME: { kind: 'stanza', condition: 'not-acceptable', text: 'the file name is not acceptable' },
  CANTO_ERR_UPLOAD_BAD_SIZE: { kind: 'stanza', condition: 'not-acceptable', text: 'the size must be a positive number of bytes' },
  CANTO_ERR_UPLOAD_BAD_CONTENT_TYPE: { kind: 'stanza', condition: 'not-acceptable', text: 'the content type is not acceptable' },
  CANTO_ERR_UPLOAD_FILE_TOO_LARGE: { kind: 'stanza', condition: 'not-acceptable', text: 'the file is larger than the maximum file size' },
  CANTO_ERR_UPLOAD_QUOTA: { kind: 'stanza', condition: 'resource-constraint', text: 'the account has as many bytes stored as its quota allows' },
  CANTO_ERR_UPLOAD_DAILY_QUOTA: { kind: 'stanza', condition: 'resource-constraint', text: 'the account has uploaded as much today as its daily quota allows' },
  // External Service Discovery (XEP-0215).
  CANTO_ERR_EXTDISCO_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: 'only users of this server may discover its external services' },
  CANTO_ERR_EXTDISCO_NO_SERVICE: { kind: 'stanza', condition: 'item-not-found', text: 'no such external service' },
  // Multi-user chat (XEP-0045): the muc module (src/modules/muc/README.md).
  CANTO_ERR_MUC_ROOM_NOT_FOUND: { kind: 'stanza', condition: 'item-not-found', text: 'no such room' },
  CANTO_ERR_MUC_LOCKED: { kind: 'stanza', condition: 'item-not-found', text: 'the room is locked until its owner configures it' },
  CANTO_ERR_MUC_CREATE_FORBIDDEN: { kind: 'stanza', condition: 'not-allowed', text: 'you may not create rooms on this service' },
  CANTO_ERR_MUC_TOO_MANY_ROOMS: { kind: 'stanza', condition: 'policy-violation', text: 'you have created as many rooms as allowed' },
  CANTO_ERR_MUC_NICK_REQUIRED: { kind: 'stanza', condition: 'jid-malformed', text: 'a room nickname is required' },
  CANTO_ERR_MUC_NICK_INVALID: { kind: 'stanza', condition: 'jid-malformed', text: 'the nickname is not valid (PRECIS Nickname profile)' },
  CANTO_ERR_MUC_NICK_CONFLICT: { kind: 'stanza', condition: 'conflict', text: 'that nickname is already in use in the room' },
  CANTO_ERR_MUC_NICK_LOOKALIKE: { kind: 'stanza', condition: 'conflict', text: 'that nickname looks like the nickname of another occupant' },
  CANTO_ERR_MUC_NICK_RESERVED: { kind: 'stanza', condition: 'conflict', text: 'that nickname is registered to another user' },
  CANTO_ERR_MUC_NICK_LOCKED: { kind: 'stanza', condition: 'not-acceptable', text: 'this room requires your registered nickname' },
  CANTO_ERR_MUC_PASSWORD: { kind: 'stanza', condition: 'not-authorized', text: 'a password is required to enter this room' },
  CANTO_ERR_MUC_BANNED: { kind: 'stanza', condition: 'forbidden', text: 'you are banned from this room' },
  CANTO_ERR_MUC_MEMBERS_ONLY: { kind: 'stanza', condition: 'registration-required', text: 'this room is members-only' },
  CANTO_ERR_MUC_FULL: { kind: 'stanza', condition: 'service-unavailable', text: 'the room has as many occupants as allowed' },
  CANTO_ERR_MUC_NOT_OCCUPANT: { kind: 'stanza', condition: 'not-acceptable', text: 'only occupants may do this' },
  CANTO_ERR_MUC_NO_VOICE: { kind: 'stanza', condition: 'forbidden', text: 'visitors may not send messages to this room' },
  CANTO_ERR_MUC_SUBJECT_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: 'you may not change the subject of this room' },
  CANTO_ERR_MUC_PM_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: 'private messages are not allowed here' },
  CANTO_ERR_MUC_PM_GROUPCHAT: { kind: 'stanza', condition: 'bad-request', text: 'a private message cannot be of type groupchat' },
  CANTO_ERR_MUC_NO_SUCH_OCCUPANT: { kind: 'stanza', condition: 'item-not-found', text: 'no occupant has that nickname' },
  CANTO_ERR_MUC_RATE_LIMITED: { kind: 'stanza', condition: 'resource-constraint', type: 'wait', text: 'too many messages: slow down' },
  CANTO_ERR_MUC_INVITE_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: 'you may not invite others to this room' },
  CANTO_ERR_MUC_INVALID_CONFIG: { kind: 'stanza', condition: 'not-acceptable', text: 'the room configuration is not valid' },
  CANTO_ERR_MUC_LAST_OWNER: { kind: 'stanza', condition: 'conflict', text: 'a room must keep at least one owner' },
  CANTO_ERR_MUC_TARGET_PROTECTED: { kind: 'stanza', condition: 'not-allowed', text: 'not allowed on an occupant of equal or higher affiliation' },
  CANTO_ERR_MUC_REGISTRATION_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: 'you may not register with this room' },
  CANTO_ERR_MUC_ARCHIVE_OFF: { kind: 'stanza', condition: 'service-unavailable', text: 'this room does not archive its messages' },
  CANTO_ERR_MUC_ARCHIVE_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: 'only those who may enter this room may read its archive' },
  CANTO_ERR_MUC_ARCHIVE_WITH: { kind: 'stanza', condition: 'bad-request', text: 'in a room archive, with is an occupant JID (room@service/nick)' },
  CANTO_ERR_MUC_MODERATE_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: 'only moderators may retract messages of others' },
  CANTO_ERR_MUC_NO_SUCH_MESSAGE: { kind: 'stanza', condition: 'item-not-found', text: 'no message with that stanza-id in the room archive' },
  CANTO_ERR_MUC_AVATAR_FORBIDDEN: { kind: 'stanza', condition: 'forbidden', text: "only owners may change the room's vCard" },
  CANTO_ERR_MUC_SELF_PING_NOT_JOINED: { kind: 'stanza', condition: 'not-acceptable', text: 'you are not an occupant of this room with that nickname' },
  // Stream errors (RFC 6120 §4.9.3).
  CANTO_ERR_STREAM_NOT_AUTHORIZED: { kind: 'stream', condition: 'not-authorized', text: 'stanzas are not allowed before authentication and resource binding' },
  CANTO_ERR_STREAM_INVALID_FROM: { kind: 'stream', condition: 'invalid-from', text: 'the from address does not match this session' },
  CANTO_ERR_STREAM_UNSUPPORTED_STANZA: { kind: 'stream', condition: 'unsupported-stanza-type', text: 'not a stanza' },
  CANTO_ERR_STREAM_SEND_BUFFER: { kind: 'stream', condition: 'policy-violation', text: 'too much unread data queued for this connection' },
  CANTO_ERR_STREAM_AUTH_TIMEOUT: { kind: 'stream', condition: 'connection-timeout', text: 'authentication took too long' },
  // SASL failures (RFC 6120 §6.5).
  CANTO_ERR_SASL_NOT_AUTHORIZED: { kind: 'sasl', condition: 'not-authorized', text: 'the credentials are not valid' },
  CANTO_ERR_SASL_INVALID_MECHANISM: { kind: 'sasl', condition: 'invalid-mechanism', text: 'the mechanism is not offered' },
  CANTO_ERR_SASL_ENCRYPTION_REQUIRED: { kind: 'sasl', condition: 'encryption-required', text: 'use TLS first' },
  // Configuration, storage and module failures (not sent to peers).
  CANTO_ERR_CONFIG_INVALID: { kind: 'config', text: 'the configuration is not valid' },
  CANTO_ERR_MODULE_OPTION: { kind: 'config', text: 'a module option is not valid' },
  CANTO_ERR_SERVICE_MISSING: { kind: 'module', text: 'a module requires a service no loaded module provides' },
  CANTO_ERR_STORAGE_ITEM_NOT_FOUND: { kind: 'storage', text: 'the referenced item is not in the store' },
  CANTO_ERR_STORAGE_CLOSED: { kind: 'storage', text: 'the storage is closed' },
  CANTO_ERR_STORAGE_UNAVAILABLE: { kind: 'storage', text: 'the database cannot be reached or refused the connection' },
  CANTO_ERR_STORAGE_SCHEMA_TOO_NEW: { kind: 'storage', text: 'the database was written by a newer Canto' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;
export type StanzaErrorCode = { [K in ErrorCode]: (typeof ERRORS)[K]['kind'] extends 'stanza' ? K : never }[ErrorCode];

/**
 * A stanza error a handler throws: the core answers the request with it. `text` overrides the
 * table's text (`''`: no <text/> at all); `appCondition` adds an application-specific condition
 * element (RFC 6120 §8.3.4).
 */
export class StanzaError extends Error {
  readonly condition: StanzaErrorCondition;
  readonly type: ErrorType;

  constructor(
    readonly code: StanzaErrorCode,
    text?: string,
    readonly appCondition?: Element,
  ) {
    const spec = ERRORS[code] as StanzaCode;
    super(text ?? spec.text);
    this.condition = spec.condition;
    this.type = spec.type ?? DEFAULT_ERROR_TYPE[spec.condition];
  }

  /** The error reply to `stanza`. */
  replyTo(stanza: Element): Element {
    const err = errorReply(stanza, this.condition, this.message, this.type);
    if (this.appCondition) err.getChild('error')?.cnode(this.appCondition);
    return err;
  }

  /** The bare <error/> element (for places that build their own reply). */
  element(): Element {
    return buildStanzaError(this.condition, this.message, this.type);
  }
}

/** Shorthand: `throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'no such node')`. */
export function stanzaError(code: StanzaErrorCode, text?: string, appCondition?: Element): StanzaError {
  return new StanzaError(code, text, appCondition);
}

/** A failure with a code that is not sent to a peer (configuration, storage, modules). */
export class CodedError extends Error {
  constructor(
    readonly code: ErrorCode,
    message?: string,
  ) {
    super(message ?? ERRORS[code].text);
  }
}
