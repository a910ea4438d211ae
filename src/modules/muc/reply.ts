/** Answering presence and messages with coded errors (iqs throw from their handlers instead). */
import { stanzaError, type StanzaErrorCode } from '../../core/errors.js';
import type { Element } from '../../xml/element.js';
import { canReplyWithError } from '../../xml/stanza.js';
import { NS_MUC } from './ns.js';
import type { Sender } from './fanout.js';

/** Send the error reply for `code` to the sender of `stanza`, from where it was sent (a room password is never echoed). */
export function refuse(out: Sender, stanza: Element, code: StanzaErrorCode, text?: string): true {
  if (!canReplyWithError(stanza)) return true;
  const err = stanzaError(code, text).replyTo(stanza);
  for (const x of err.getChildren('x', NS_MUC)) x.removeChildren('password');
  out.send(err);
  return true;
}
