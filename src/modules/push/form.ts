/**
 * The two data forms of XEP-0357: the publish-options a client gives at `<enable/>` (usually a
 * `secret` the app server checks) and the `urn:xmpp:push:summary` form in each notification;
 * and the publish iq that carries both to the app server.
 */
import { Element } from '../../xml/element.js';
import { iq } from '../../xml/stanza.js';

export const NS_PUSH = 'urn:xmpp:push:0';
export const NS_DATA = 'jabber:x:data';
export const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
export const PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options';
export const SUMMARY = 'urn:xmpp:push:summary';

/** A form's fields, FORM_TYPE left out: [var, values]. JSON as it is, so it is stored as it is. */
export type FormFields = Array<[string, string[]]>;

/** Bounds on what a client may store with a registration (it is kept per account and resent with each push). */
export const MAX_FIELDS = 16;
export const MAX_VALUE_LENGTH = 1024;

/** A submitted form that is not usable as publish-options, with why. */
export class BadForm extends Error {}

/**
 * The fields of the publish-options form in `<enable/>` (XEP-0357 §5: a submitted form of
 * FORM_TYPE pubsub#publish-options). Throws BadForm with the reason.
 */
export function parsePublishOptions(x: Element): FormFields {
  if ((x.attrs.type ?? 'form') !== 'submit') throw new BadForm("the publish-options form must be of type 'submit'");
  const fields: FormFields = [];
  let formType: string | undefined;
  for (const field of x.getChildren('field', NS_DATA)) {
    const name = field.attrs.var;
    if (name === undefined || name === '') throw new BadForm("every field of the publish-options form needs a 'var'");
    const values = field.getChildren('value', NS_DATA).map((v) => v.getText());
    if (name === 'FORM_TYPE') {
      formType = values[0];
      continue;
    }
    if (values.some((v) => v.length > MAX_VALUE_LENGTH)) throw new BadForm(`a publish-options value is longer than ${MAX_VALUE_LENGTH} characters`);
    fields.push([name, values]);
  }
  if (formType !== PUBLISH_OPTIONS) throw new BadForm(`the form's FORM_TYPE must be ${PUBLISH_OPTIONS}`);
  if (fields.length > MAX_FIELDS) throw new BadForm(`the publish-options form has more than ${MAX_FIELDS} fields`);
  return fields;
}

/** What one notification says (XEP-0357 §7 summary). */
export interface Summary {
  /** Messages (chats, encrypted, mentions, calls) since the device was last connected. */
  messageCount: number;
  /** Subscription requests since then. */
  subscriptionCount: number;
  /** Only when the operator allows it (`include_sender`). */
  lastSender?: string;
  /** Only when the operator allows it (`include_body`) and the last message had a readable body. */
  lastBody?: string;
}

export function submitForm(formType: string, fields: FormFields): Element {
  const x = new Element('x', { xmlns: NS_DATA, type: 'submit' });
  x.c('field', { var: 'FORM_TYPE' }).c('value').t(formType);
  for (const [name, values] of fields) {
    const field = x.c('field', { var: name });
    for (const v of values) field.c('value').t(v);
  }
  return x;
}

export function summaryForm(s: Summary): Element {
  const fields: FormFields = [['message-count', [String(s.messageCount)]]];
  if (s.subscriptionCount > 0) fields.push(['pending-subscription-count', [String(s.subscriptionCount)]]);
  if (s.lastSender !== undefined) fields.push(['last-message-sender', [s.lastSender]]);
  if (s.lastBody !== undefined) fields.push(['last-message-body', [s.lastBody]]);
  return submitForm(SUMMARY, fields);
}

/**
 * The notification (XEP-0357 §7): a pubsub publish to the registration's node at the app server,
 * from the user's bare JID, with the publish-options the client gave.
 */
export function publishIq(opts: { id: string; from: string; to: string; node: string; summary: Summary; publishOptions: FormFields | undefined }): Element {
  const stanza = iq({ type: 'set', id: opts.id, from: opts.from, to: opts.to });
  const pubsub = stanza.c('pubsub', { xmlns: NS_PUBSUB });
  pubsub.c('publish', { node: opts.node }).c('item').c('notification', { xmlns: NS_PUSH }).cnode(summaryForm(opts.summary));
  if (opts.publishOptions !== undefined) pubsub.c('publish-options').cnode(submitForm(PUBLISH_OPTIONS, opts.publishOptions));
  return stanza;
}

/** Bodies are cut to this many characters: a notification is a preview, and push services cap payloads (APNs: 4 KiB). */
export const MAX_BODY_PREVIEW = 256;

export function preview(body: string): string {
  const chars = [...body];
  return chars.length <= MAX_BODY_PREVIEW ? body : `${chars.slice(0, MAX_BODY_PREVIEW - 1).join('')}…`;
}
