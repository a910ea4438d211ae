/**
 * Reading XEP-0377 reports out of a XEP-0191 <block/>: the current form (`urn:xmpp:reporting:1`,
 * a `reason` attribute, inside the <item/>) and the older one slixmpp and some clients send
 * (`urn:xmpp:reporting:0`, a <spam/> or <abuse/> child, inside the <item/> or directly in the
 * <block/>, then about every item). Pure; never throws on what a client sends.
 */
import { tryParseJid } from '../../jid/index.js';
import type { Element } from '../../xml/element.js';

export const NS_REPORTING = 'urn:xmpp:reporting:1';
export const NS_REPORTING_0 = 'urn:xmpp:reporting:0';
export const REASON_SPAM = 'urn:xmpp:reporting:spam';
export const REASON_ABUSE = 'urn:xmpp:reporting:abuse';
export const REASONS = [REASON_SPAM, REASON_ABUSE] as const;
export type Reason = 'spam' | 'abuse';
const NS_BLOCKING = 'urn:xmpp:blocking';
const NS_SID = 'urn:xmpp:sid:0';

/** A message the reporter points at (XEP-0359 ids). */
export interface MessageRef {
  kind: 'stanza-id' | 'origin-id';
  id: string;
  by?: string;
}

export interface ParsedReport {
  /** The reported JID (as given in the block item, prepared). */
  jid: string;
  reason: Reason;
  text?: string;
  refs: MessageRef[];
}

const MAX_TEXT = 4000;
const MAX_REFS = 20;

function reasonOf(report: Element): Reason | undefined {
  if (report.xmlns === NS_REPORTING) {
    const r = report.attrs.reason;
    if (r === REASON_SPAM) return 'spam';
    if (r === REASON_ABUSE) return 'abuse';
    return undefined;
  }
  if (report.getChild('abuse', NS_REPORTING_0)) return 'abuse';
  // An old-style report without a reason element is about spam (its default use).
  return 'spam';
}

export function readReport(report: Element, jid: string): ParsedReport | undefined {
  const reason = reasonOf(report);
  if (reason === undefined) return undefined;
  const text = report.getChildText('text', report.xmlns)?.trim();
  const refs: MessageRef[] = [];
  for (const kind of ['stanza-id', 'origin-id'] as const) {
    for (const el of report.getChildren(kind, NS_SID)) {
      const id = el.attrs.id;
      if (id === undefined || id === '' || id.length > 256 || refs.length >= MAX_REFS) continue;
      refs.push({ kind, id, by: el.attrs.by });
    }
  }
  return { jid, reason, text: text === undefined || text === '' ? undefined : text.slice(0, MAX_TEXT), refs };
}

const reportIn = (el: Element): Element | undefined => el.getChild('report', NS_REPORTING) ?? el.getChild('report', NS_REPORTING_0);

/** The reports in a <block/> command (none when it carries none). */
export function parseReports(block: Element): ParsedReport[] {
  const out: ParsedReport[] = [];
  const blockLevel = reportIn(block);
  for (const item of block.getChildren('item', NS_BLOCKING)) {
    const jid = tryParseJid(item.attrs.jid ?? '');
    if (!jid) continue;
    const report = reportIn(item) ?? blockLevel;
    if (!report) continue;
    const parsed = readReport(report, jid.full);
    if (parsed) out.push(parsed);
  }
  return out;
}
