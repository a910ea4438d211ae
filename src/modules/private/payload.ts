/** What XEP-0049 allows inside `<query xmlns='jabber:iq:private'/>`, as pure functions. */
import type { Element } from '../../xml/element.js';

/**
 * Why this namespace cannot be used for private storage, or undefined when it can. XEP-0049 §2.3
 * reserves 'jabber:*', 'http://jabber.org/*' and 'vcard-temp'; an element written without its
 * own namespace inherits 'jabber:iq:private' (or '' in odd input) and is refused too.
 */
export function checkNamespace(ns: string): string | undefined {
  if (ns === '') return 'the stored element must have a namespace';
  if (ns.startsWith('jabber:') || ns.startsWith('http://jabber.org/') || ns === 'vcard-temp') {
    return `the namespace ${ns} is reserved`;
  }
  return undefined;
}

/** The children of a set, serialized and grouped by namespace, in document order. */
export function groupByNamespace(children: Element[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const child of children) {
    const copy = child.clone();
    const list = groups.get(copy.xmlns) ?? [];
    list.push(copy.toString());
    groups.set(copy.xmlns, list);
  }
  return groups;
}
