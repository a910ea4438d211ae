/**
 * Report and ban in one step: a moderator's ban (muc#admin item `affiliation='outcast'`) may
 * carry a XEP-0377 `<report/>` in the item. The ban happens as usual; then a report is filed
 * through the `spam-reports` service of the moderator's host (or, for a remote moderator, of
 * the host this service is a subdomain of), with the banned user's latest message in the room
 * (or the one its stanza-id names) as the evidence.
 */
import type { StanzaEvent } from '../../core/event-map.js';
import type { ModuleApi } from '../../core/modules.js';
import { tryParseJid } from '../../jid/index.js';
import { NS_REPORTING, NS_REPORTING_0, readReport, type ParsedReport } from '../spam_reporting/parse.js';
import type { SpamReportsService } from '../spam_reporting/index.js';
import { NS_MUC_ADMIN } from './ns.js';
import type { MucService } from './service.js';

const NS_SID = 'urn:xmpp:sid:0';

export interface PendingBanReport {
  report: ParsedReport;
  room: string;
  /** The banned user's nickname in the room before the ban, if they were in it. */
  nick?: string;
}

/** Before the ban: the reports in the set's outcast items, with the targets' nicknames. */
export function banReports(muc: MucService, event: StanzaEvent): PendingBanReport[] {
  const out: PendingBanReport[] = [];
  const room = muc.room(event.to.local);
  if (!room) return out;
  for (const item of event.stanza.getChild('query', NS_MUC_ADMIN)?.getChildren('item', NS_MUC_ADMIN) ?? []) {
    if (item.attrs.affiliation !== 'outcast') continue;
    const el = item.getChild('report', NS_REPORTING) ?? item.getChild('report', NS_REPORTING_0);
    const target = tryParseJid(item.attrs.jid ?? '');
    if (!el || !target) continue;
    const report = readReport(el, target.bare);
    if (!report) continue;
    const nick = [...room.occupants.values()].find((o) => o.bare === target.bare)?.nick;
    out.push({ report, room: room.jid, nick });
  }
  return out;
}

function reportsService(mod: ModuleApi, moderatorDomain: string): SpamReportsService | undefined {
  const own = mod.server.hosts.get(moderatorDomain)?.services.get('spam-reports');
  if (own) return own;
  const parent = mod.host.slice(mod.host.indexOf('.') + 1);
  return mod.server.hosts.get(parent)?.services.get('spam-reports');
}

/** After the ban succeeded: file each report. Failures are logged; the ban stands. */
export async function fileBanReports(mod: ModuleApi, muc: MucService, event: StanzaEvent, pending: PendingBanReport[]): Promise<void> {
  if (pending.length === 0) return;
  const service = reportsService(mod, event.from.domain);
  if (!service) {
    mod.log.info({ room: event.to.bare, by: event.from.bare }, 'a ban carried a report, but no host here takes spam reports (spam_reporting module)');
    return;
  }
  const room = muc.room(event.to.local);
  for (const p of pending) {
    try {
      const entries = room ? await muc.history.fetch(room, { maxstanzas: 200 }, mod.now()) : [];
      const ids = p.report.refs.map((r) => r.id);
      const fromTarget = entries.filter((e) => p.nick !== undefined && e.stanza.attrs.from === `${p.room}/${p.nick}`);
      const named = entries.find((e) => e.stanza.getChildren('stanza-id', NS_SID).some((s) => ids.includes(s.attrs.id ?? '')));
      const hit = named ?? fromTarget[fromTarget.length - 1];
      await service.file({
        reporter: event.from.bare,
        jid: p.report.jid,
        reason: p.report.reason,
        text: p.report.text,
        refs: p.report.refs,
        evidence: hit ? { source: 'room', stanza: hit.stanza.toString(), when: hit.when } : undefined,
        via: 'muc',
        room: p.room,
      });
    } catch (err) {
      mod.log.error({ err, room: p.room, jid: p.report.jid }, 'could not file the report of a ban');
    }
  }
}
