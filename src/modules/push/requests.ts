/**
 * Reading `<enable/>` and `<disable/>` (XEP-0357 §5, §6) into what they ask, or the coded
 * error the client gets (docs/errors.md): a missing `jid` or `node`, an address that is not a
 * JID, a publish-options form that is not a submitted pubsub#publish-options form.
 */
import { stanzaError } from '../../core/errors.js';
import { JidError, parseJid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';
import { BadForm, NS_DATA, parsePublishOptions, type FormFields } from './form.js';

/** A node longer than this is refused: it is stored and sent with every notification. */
export const MAX_NODE_LENGTH = 1024;

export interface EnableRequest {
  jid: string;
  node: string;
  options: FormFields | undefined;
}

export interface DisableRequest {
  jid: string;
  /** Absent: every node at that app server. */
  node: string | undefined;
}

function appServer(el: Element): string {
  const raw = el.attrs.jid;
  if (raw === undefined || raw === '') throw stanzaError('CANTO_ERR_PUSH_JID_REQUIRED');
  try {
    return parseJid(raw).full;
  } catch (err) {
    if (err instanceof JidError) throw stanzaError('CANTO_ERR_JID_MALFORMED', `the app server address is not a valid JID: ${err.message}`);
    throw err;
  }
}

export function parseEnable(el: Element): EnableRequest {
  const jid = appServer(el);
  const node = el.attrs.node;
  if (node === undefined || node === '') throw stanzaError('CANTO_ERR_PUSH_NODE_REQUIRED');
  if (node.length > MAX_NODE_LENGTH) throw stanzaError('CANTO_ERR_PUSH_INVALID_FORM', `the node is longer than ${MAX_NODE_LENGTH} characters`);
  const forms = el.getChildren('x', NS_DATA);
  if (forms.length > 1) throw stanzaError('CANTO_ERR_PUSH_INVALID_FORM', 'at most one publish-options form');
  let options: FormFields | undefined;
  const form = forms[0];
  if (form !== undefined) {
    try {
      options = parsePublishOptions(form);
    } catch (err) {
      if (err instanceof BadForm) throw stanzaError('CANTO_ERR_PUSH_INVALID_FORM', err.message);
      throw err;
    }
  }
  return { jid, node, options };
}

export function parseDisable(el: Element): DisableRequest {
  const jid = appServer(el);
  const node = el.attrs.node;
  return { jid, node: node === '' ? undefined : node };
}
