/**
 * XEP-0377 spam reporting: reports carried in XEP-0191 block commands are stored with the
 * reported message (from the archive or the message requests), optionally forwarded to an
 * abuse address, listed by `canto reports` and the admin API; a confirmed spammer can be
 * published to this server's own block list (RTBL). See README.md.
 */
import { z } from 'zod';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import type { StanzaEvent } from '../../core/event-map.js';
import { duration, isBareJid } from '../../core/option-schemas.js';
import { parseJid } from '../../jid/index.js';
import { NS_BLOCKING } from '../blocking/index.js';
import { AdminError } from '../adminsocket/index.js';
import { findEvidence } from './evidence.js';
import { forwardedReport } from './forward.js';
import { NS_REPORTING, parseReports, REASON_ABUSE, REASON_SPAM, type ParsedReport } from './parse.js';
import { publishToRtbl, type RtblTarget } from './rtbl-publish.js';
import { countReports, deleteResolvedBefore, getReport, newReportId, reportsStore, resolveReport, saveReport, type SpamReport } from './store.js';

export { NS_REPORTING, NS_REPORTING_0, REASON_ABUSE, REASON_SPAM } from './parse.js';
export { publishToRtbl, rtblItemId, type RtblTarget } from './rtbl-publish.js';
export { listReports, getReport, reportsStore, type SpamReport } from './store.js';

/** Above the blocking module's own handler (0), which then answers the block as usual. */
const REPORT_PRIORITY = 10;
/** How often resolved reports past report_retention are looked for. */
const SWEEP_MS = 3_600_000;

/** What other modules (MUC moderation) use to file a report. */
export interface SpamReportsService {
  file(input: Omit<SpamReport, 'id' | 'created' | 'host' | 'status'>): Promise<SpamReport | undefined>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    'spam-reports': SpamReportsService;
  }
}

const bareJid = z.string().refine(isBareJid, 'a bare JID such as "abuse@example.org"');

export default defineModule({
  name: 'spam_reporting',
  description: 'XEP-0377 spam and abuse reports',
  // adminsocket: `canto reports resolve` reaches the running server through it (RTBL publication).
  depends: ['blocking', 'adminsocket'],
  options: z.object({
    forward_to: z.array(bareJid).default([]),
    max_reports: z.number().int().min(1).max(10_000_000).default(100_000),
    rtbl_service: z.string().min(1).optional(),
    rtbl_node: z.string().min(1).default('spam_source_jids'),
    /** Resolved reports older than this (since they were resolved) are deleted; 0 keeps them. */
    report_retention: duration('90 days'),
    /** Who publishes to the block list node (its owner once auto-created); default: the first of `admins`. */
    rtbl_publisher: bareJid.optional(),
  }),
  setup(mod) {
    const o = mod.options;
    const store = reportsStore(mod.server.storage, mod.host);
    const received = mod.measure.counter('spam_reporting_reports_total', 'Spam and abuse reports received, by reason and whether the message was found', ['reason', 'evidence']);
    const published = mod.measure.counter('spam_reporting_published_total', 'Confirmed spammers published to this server\'s block list');
    const publisher = o.rtbl_publisher ?? mod.server.config.admins[0];
    if (o.rtbl_service !== undefined && publisher === undefined) mod.log.warn({ service: o.rtbl_service }, 'rtbl_service is set but there is no rtbl_publisher (nor admins): confirmed spammers are not published');
    const rtbl: RtblTarget | undefined = o.rtbl_service === undefined || publisher === undefined ? undefined : { service: o.rtbl_service, node: o.rtbl_node, publisher };

    mod.addFeature(NS_REPORTING);
    mod.addFeature(REASON_SPAM);
    mod.addFeature(REASON_ABUSE);

    const file = async (input: Omit<SpamReport, 'id' | 'created' | 'host' | 'status'>): Promise<SpamReport | undefined> => {
      if ((await countReports(store)) >= o.max_reports) {
        mod.log.warn({ reporter: input.reporter, jid: input.jid, max: o.max_reports }, 'report not stored: max_reports reached (resolve or delete old reports)');
        return undefined;
      }
      const now = mod.now();
      const report: SpamReport = { ...input, id: newReportId(now), created: now, host: mod.host, status: 'open' };
      await saveReport(store, report);
      received.inc({ reason: report.reason, evidence: report.evidence ? report.evidence.source : 'none' });
      mod.log.info({ id: report.id, reporter: report.reporter, jid: report.jid, reason: report.reason, evidence: report.evidence?.source ?? 'none', via: report.via }, 'spam report received');
      for (const to of o.forward_to) mod.send(forwardedReport(report, to));
      return report;
    };
    mod.provides('spam-reports', { file });

    const fromBlock = async (event: StanzaEvent, reports: ParsedReport[]): Promise<false> => {
      const username = event.from.local;
      for (const r of reports) {
        try {
          const evidence = await findEvidence(mod, username, r);
          await file({ reporter: event.from.bare, jid: r.jid, reason: r.reason, text: r.text, refs: r.refs, evidence, via: 'block' });
          // Blocked now: the sender's held message requests are of no more use.
          await mod.optional('stranger')?.dismiss(username, parseJid(r.jid).bare);
        } catch (err) {
          mod.log.error({ err, reporter: event.from.bare, jid: r.jid }, 'could not store a spam report');
        }
      }
      // The block itself goes on in the blocking module.
      return false;
    };

    mod.hookIq('set', 'bare', NS_BLOCKING, 'block', (event) => {
      if (event.origin.type !== 'c2s' || event.from.bare !== event.to.bare) return false;
      const block = event.stanza.getChild('block', NS_BLOCKING);
      const reports = block ? parseReports(block) : [];
      if (reports.length === 0) return false;
      // Held until stored: the block's result means the report is on disk.
      return fromBlock(event, reports);
    }, REPORT_PRIORITY);

    registerAdminCommands(mod, store, rtbl, () => published.inc());

    // Retention: resolved reports go once report_retention has passed since they were resolved.
    if (o.report_retention > 0) {
      const expired = mod.measure.counter('spam_reporting_reports_expired_total', 'Resolved spam reports deleted after report_retention');
      let running = false;
      const sweep = async (): Promise<void> => {
        if (running) return;
        running = true;
        try {
          const n = await deleteResolvedBefore(store, mod.now() - o.report_retention);
          if (n > 0) {
            expired.inc(n);
            mod.log.info({ deleted: n, retention_ms: o.report_retention }, 'expired resolved spam reports deleted');
          }
        } catch (err) {
          mod.log.error({ err }, 'could not delete expired spam reports');
        } finally {
          running = false;
        }
      };
      mod.setInterval(() => void sweep(), SWEEP_MS);
    }
  },
});

/** `canto reports resolve` through the running server: resolve, and publish when confirmed. */
function registerAdminCommands(mod: ModuleApi, store: ReturnType<typeof reportsStore>, rtbl: RtblTarget | undefined, onPublished: () => void): void {
  const admin = mod.optional('admin-commands');
  if (!admin) return;
  mod.onUnload(
    admin.register('report-resolve', mod.host, async (args) => {
      const id = typeof args.id === 'string' ? args.id : '';
      const confirm = args.confirm === true;
      const report = await getReport(store, id);
      if (!report) throw new AdminError(`there is no report ${id} on ${mod.host}`);
      let publishedNow = false;
      if (confirm && rtbl) {
        try {
          await publishToRtbl(mod.server, rtbl, report.jid, report.reason);
        } catch (err) {
          throw new AdminError(`could not publish ${report.jid} to ${rtbl.service} node ${rtbl.node}: ${(err as Error).message}`);
        }
        publishedNow = true;
        onPublished();
        mod.log.info({ id, jid: report.jid, service: rtbl.service, node: rtbl.node }, 'spammer published to the block list');
      }
      const resolved = await resolveReport(store, id, { at: mod.now(), confirmed: confirm, by: 'cli', published: publishedNow });
      mod.log.info({ id, confirmed: confirm }, 'spam report resolved');
      return { report: resolved, published: publishedNow, rtbl: rtbl !== undefined };
    }),
  );
}
