/**
 * `canto reports list|show ID|resolve ID [--confirm]`: the XEP-0377 reports users filed
 * (src/modules/spam_reporting), read from the configured storage, so they are there whether or
 * not a server runs. `resolve` goes through the admin socket of a running server when there is
 * one (it logs, counts, and with `--confirm` publishes the spammer to the configured block
 * list); without a running server it marks the report in storage, and `--confirm` publishes
 * nothing (said so).
 */
import { mkdirSync } from 'node:fs';
import type { CantoConfig } from '../core/config.js';
import { silentLogger } from '../core/logging.js';
import { openStorage, storageDriverEntry } from '../storage/registry.js';
import type { MapStore } from '../storage/types.js';
import { askAdmin, findAdminSockets } from '../modules/adminsocket/protocol.js';
import { getReport, listReports, reportsStore, type SpamReport } from '../modules/spam_reporting/index.js';
import { resolveReport } from '../modules/spam_reporting/store.js';
import { parseXmlFragment } from '../xml/parse-fragment.js';
import { CommandFailed, UsageError } from './errors.js';

export interface ReportsArgs {
  host?: string;
  confirm?: boolean;
  json?: boolean;
  all?: boolean;
}

function hostOf(config: CantoConfig, given: string | undefined): string {
  const host = given ?? config.virtualhost[0]?.domain;
  if (host === undefined || !config.virtualhost.some((vh) => vh.domain === host)) {
    throw new CommandFailed(`${host ?? '(none)'} is not a virtual host of this server (served: ${config.virtualhost.map((v) => v.domain).join(', ')})`);
  }
  return host;
}

async function withReports<T>(config: CantoConfig, host: string, fn: (store: MapStore<SpamReport>) => Promise<T>): Promise<T> {
  if (!storageDriverEntry(config).persistent) throw new CommandFailed(`storage driver "${config.storage.driver}" keeps nothing between processes`);
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  const storage = await openStorage(config, silentLogger());
  try {
    return await fn(reportsStore(storage, host));
  } finally {
    await storage.close();
  }
}

const oneLine = (s: string, max = 80): string => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

function bodyOf(xml: string): string | undefined {
  try {
    return parseXmlFragment(xml).getChildText('body');
  } catch {
    return undefined;
  }
}

function summary(r: SpamReport): string {
  const body = r.evidence ? bodyOf(r.evidence.stanza) : undefined;
  const msg = body !== undefined ? `  "${oneLine(body, 60)}"` : r.evidence ? '  (message without body)' : '  (no message)';
  return `${r.id}  ${new Date(r.created).toISOString()}  ${r.status.padEnd(8)}  ${r.reason.padEnd(5)}  ${r.jid}  by ${r.reporter}${r.room !== undefined ? ` in ${r.room}` : ''}${msg}`;
}

function details(r: SpamReport): string {
  const lines = [
    `id:        ${r.id}`,
    `received:  ${new Date(r.created).toISOString()}`,
    `status:    ${r.status}${r.resolved ? ` (${r.resolved.confirmed ? 'confirmed' : 'not confirmed'} ${new Date(r.resolved.at).toISOString()}${r.resolved.published ? ', published to the block list' : ''})` : ''}`,
    `reported:  ${r.jid}`,
    `reason:    ${r.reason}`,
    `reporter:  ${r.reporter}${r.room !== undefined ? ` (moderator of ${r.room})` : ''}`,
  ];
  if (r.text !== undefined) lines.push(`text:      ${r.text}`);
  if (r.refs.length > 0) lines.push(`refers to: ${r.refs.map((x) => `${x.kind} ${x.id}`).join(', ')}`);
  if (r.evidence) {
    lines.push(`message (${r.evidence.source}, ${new Date(r.evidence.when).toISOString()}):`);
    const body = bodyOf(r.evidence.stanza);
    if (body !== undefined) lines.push(`  body: ${body}`);
    lines.push(`  ${r.evidence.stanza}`);
  } else {
    lines.push('message:   not found');
  }
  return `${lines.join('\n')}\n`;
}

/** Resolve through the first running server that answers; undefined when none runs. */
async function resolveViaServer(config: CantoConfig, host: string, id: string, confirm: boolean): Promise<{ report: SpamReport | undefined; published: boolean; rtbl: boolean } | undefined> {
  for (const path of findAdminSockets(config.data_dir)) {
    let answer;
    try {
      answer = await askAdmin(path, { command: 'report-resolve', host, args: { id, confirm } });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOENT') continue;
      throw new CommandFailed(`${path}: ${(err as Error).message}`);
    }
    if (!answer.ok) {
      if (/unknown command|not available/.test(answer.error)) return undefined;
      throw new CommandFailed(answer.error);
    }
    return answer.result as { report: SpamReport | undefined; published: boolean; rtbl: boolean };
  }
  return undefined;
}

export async function runReports(config: CantoConfig, sub: string | undefined, rest: string[], args: ReportsArgs): Promise<number> {
  const host = hostOf(config, args.host);
  switch (sub ?? 'list') {
    case 'list': {
      if (rest.length !== 0) throw new UsageError('reports list takes no arguments');
      const reports = await withReports(config, host, (store) => listReports(store, args.all === true ? {} : { status: 'open' }));
      if (args.json) {
        process.stdout.write(`${JSON.stringify(reports)}\n`);
        return 0;
      }
      for (const r of reports) process.stdout.write(`${summary(r)}\n`);
      if (reports.length === 0) process.stdout.write(args.all === true ? 'no reports\n' : 'no open reports\n');
      return 0;
    }
    case 'show': {
      if (rest.length !== 1) throw new UsageError('reports show takes the report id');
      const id = rest[0] as string;
      const report = await withReports(config, host, (store) => getReport(store, id));
      if (!report) throw new CommandFailed(`there is no report ${id} on ${host}`);
      process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : details(report));
      return 0;
    }
    case 'resolve': {
      if (rest.length !== 1) throw new UsageError('reports resolve takes the report id');
      const id = rest[0] as string;
      const confirm = args.confirm === true;
      const viaServer = await resolveViaServer(config, host, id, confirm);
      if (viaServer) {
        process.stdout.write(`resolved ${id}${confirm ? ' (confirmed)' : ''}\n`);
        if (confirm) process.stdout.write(viaServer.published ? `${viaServer.report?.jid ?? ''} published to the block list\n` : 'no block list configured ([modules.spam_reporting] rtbl_service): nothing published\n');
        return 0;
      }
      const resolved = await withReports(config, host, (store) => resolveReport(store, id, { at: Date.now(), confirmed: confirm, by: 'cli', published: false }));
      if (!resolved) throw new CommandFailed(`there is no report ${id} on ${host}`);
      process.stdout.write(`resolved ${id}${confirm ? ' (confirmed)' : ''}\n`);
      if (confirm) process.stdout.write('no server is running: nothing published to a block list\n');
      return 0;
    }
    default:
      throw new UsageError('reports takes list, show or resolve');
  }
}
