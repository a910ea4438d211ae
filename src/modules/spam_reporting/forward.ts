/**
 * A report forwarded to the operator's abuse address: a normal message from the host with a
 * readable summary, the XEP-0377 report, and the reported message wrapped in XEP-0297
 * forwarding (with its XEP-0203 delay) when it was found.
 */
import { Element } from '../../xml/element.js';
import { asClientStanza, message } from '../../xml/stanza.js';
import { parseXmlFragment } from '../../xml/parse-fragment.js';
import { NS_REPORTING, REASON_ABUSE, REASON_SPAM } from './parse.js';
import type { SpamReport } from './store.js';

export const NS_FORWARD = 'urn:xmpp:forward:0';
const NS_DELAY = 'urn:xmpp:delay';

export function forwardedReport(report: SpamReport, to: string): Element {
  const m = message({ from: report.host, to, type: 'normal', id: `report-${report.id}` });
  m.c('subject').t(`${report.reason === 'abuse' ? 'Abuse' : 'Spam'} report ${report.id}`);
  const where = report.room !== undefined ? ` in ${report.room}` : '';
  const lines = [`${report.reporter} reported ${report.jid} for ${report.reason}${where}.`];
  if (report.text !== undefined) lines.push(`Their words: ${report.text}`);
  lines.push(report.evidence ? `The message is attached (from the ${report.evidence.source}).` : 'The message was not found.');
  lines.push(`canto reports show ${report.id}`);
  m.c('body').t(lines.join('\n'));
  const r = m.c('report', { xmlns: NS_REPORTING, reason: report.reason === 'abuse' ? REASON_ABUSE : REASON_SPAM });
  if (report.text !== undefined) r.c('text').t(report.text);
  if (report.evidence) {
    let stanza: Element | undefined;
    try {
      stanza = asClientStanza(parseXmlFragment(report.evidence.stanza));
    } catch {
      stanza = undefined;
    }
    if (stanza) {
      const fwd = new Element('forwarded', { xmlns: NS_FORWARD });
      fwd.c('delay', { xmlns: NS_DELAY, stamp: new Date(report.evidence.when).toISOString() });
      fwd.cnode(stanza);
      m.cnode(fwd);
    }
  }
  return m;
}
