/** Small readers for asserting on stanzas. */
import type { Element } from '../xml/element.js';

export const NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** The defined condition of an error stanza with its type, e.g. 'cancel/item-not-found'. */
export function errorCondition(stanza: Element | undefined): string | undefined {
  const error = stanza?.getChild('error');
  const condition = error?.elements.find((e) => e.xmlns === NS_STANZAS && e.name !== 'text');
  return error && condition ? `${error.attrs.type}/${condition.name}` : undefined;
}
