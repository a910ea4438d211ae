/** The namespaces, form types and status codes of XEP-0045 (and the few XEPs next to it). */
export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
export const NS_MUC_ADMIN = 'http://jabber.org/protocol/muc#admin';
export const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
export const NS_MUC_UNIQUE = 'http://jabber.org/protocol/muc#unique';
export const NS_REGISTER = 'jabber:iq:register';
export const NS_DATA = 'jabber:x:data';
export const NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info';
export const NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
export const NS_DELAY = 'urn:xmpp:delay';
export const NS_SID = 'urn:xmpp:sid:0';
/** XEP-0249 direct invitations; mediated invitations carry it too, for old clients. */
export const NS_CONFERENCE = 'jabber:x:conference';

export const FORM_ROOMCONFIG = 'http://jabber.org/protocol/muc#roomconfig';
export const FORM_ROOMINFO = 'http://jabber.org/protocol/muc#roominfo';
export const FORM_REGISTER = 'http://jabber.org/protocol/muc#register';
export const FORM_REQUEST = 'http://jabber.org/protocol/muc#request';

/** The disco#info node that tells a user its registered nickname (§7.7). */
export const NODE_ROOMUSER_ITEM = 'x-roomuser-item';

/** XEP-0045 §15.6 status codes used here. */
export const STATUS = {
  /** The room is non-anonymous: everyone sees real JIDs. */
  NON_ANONYMOUS: 100,
  /** A configuration change not about privacy. */
  CONFIG_CHANGED: 104,
  /** The presence is the receiver's own. */
  SELF: 110,
  LOGGING_ON: 170,
  LOGGING_OFF: 171,
  NOW_NON_ANONYMOUS: 172,
  NOW_SEMI_ANONYMOUS: 173,
  CREATED: 201,
  /** The service changed the nickname asked for. */
  NICK_ASSIGNED: 210,
  BANNED: 301,
  NICK_CHANGED: 303,
  KICKED: 307,
  AFFILIATION_CHANGED: 321,
  MEMBERS_ONLY: 322,
  SHUTDOWN: 332,
  /** Removed because the occupant's client or server failed (XEP-0045 1.32). */
  TECHNICAL: 333,
} as const;
