/**
 * Archiving preferences (XEP-0313 §7): a default (always, roster, never) and JIDs always or
 * never archived. Stored per user; JIDs compared bare.
 */
import { Element } from '../../xml/element.js';
import { tryParseJid } from '../../jid/index.js';
import { stanzaError } from '../../core/errors.js';
import { NS_MAM } from './query.js';

export const POLICIES = ['always', 'roster', 'never'] as const;
export type Policy = (typeof POLICIES)[number];

export interface Prefs {
  default: Policy;
  always: string[];
  never: string[];
}

function isPolicy(v: string | undefined): v is Policy {
  return (POLICIES as readonly string[]).includes(v ?? '');
}

/** Parses a <prefs/> set; throws bad-request / jid-malformed stanza errors. */
export function parsePrefs(el: Element): Prefs {
  const dflt = el.attrs.default;
  if (!isPolicy(dflt)) throw stanzaError('CANTO_ERR_BAD_REQUEST', "prefs default must be 'always', 'roster' or 'never'");
  const list = (name: string): string[] => {
    const lists = el.getChildren(name, NS_MAM);
    if (lists.length > 1) throw stanzaError('CANTO_ERR_BAD_REQUEST', `more than one <${name}/>`);
    const out = new Set<string>();
    for (const j of lists[0]?.getChildren('jid', NS_MAM) ?? []) {
      const parsed = tryParseJid(j.getText());
      if (!parsed) throw stanzaError('CANTO_ERR_JID_MALFORMED', `not a JID in <${name}/>`);
      out.add(parsed.bare);
    }
    return [...out].sort();
  };
  const always = list('always');
  const never = list('never');
  // A JID in both lists would be ambiguous: never wins, as the safer choice.
  return { default: dflt, always: always.filter((j) => !never.includes(j)), never };
}

export function prefsElement(prefs: Prefs): Element {
  const el = new Element('prefs', { xmlns: NS_MAM, default: prefs.default });
  const always = el.c('always');
  for (const j of prefs.always) always.c('jid').t(j);
  const never = el.c('never');
  for (const j of prefs.never) never.c('jid').t(j);
  return el;
}

/**
 * Whether a message with `contact` (a bare JID) is archived. `inRoster` is only asked for the
 * 'roster' default (it loads the roster).
 */
export async function prefsAllow(prefs: Prefs, contact: string, inRoster: () => Promise<boolean>): Promise<boolean> {
  if (prefs.never.includes(contact)) return false;
  if (prefs.always.includes(contact)) return true;
  if (prefs.default === 'always') return true;
  if (prefs.default === 'never') return false;
  return inRoster();
}
