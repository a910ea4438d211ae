/**
 * `canto push-trace user@host [--json]`: the last push decisions for an account, read from the
 * running server through its admin socket (src/modules/adminsocket): the trace lives in the
 * server's memory (src/modules/push/trace.ts). With a cluster, every worker has its own trace
 * and socket; the decisions of all are merged by time.
 */
import type { CantoConfig } from '../core/config.js';
import { askAdmin, findAdminSockets } from '../modules/adminsocket/protocol.js';
import type { RegistrationInfo, TraceEntry } from '../modules/push/index.js';
import { accountJid } from './accounts.js';
import { CommandFailed } from './errors.js';

export interface PushTraceResult {
  account: string;
  registrations: RegistrationInfo[];
  entries: TraceEntry[];
}

export async function runPushTrace(config: CantoConfig, jidText: string, opts: { json: boolean }, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const jid = accountJid(config, jidText);
  const sockets = findAdminSockets(config.data_dir);
  if (sockets.length === 0) {
    throw new CommandFailed(`no running server found: no admin socket in ${config.data_dir} (is "canto start" running with this configuration, with the push module enabled?)`);
  }
  const results: PushTraceResult[] = [];
  for (const path of sockets) {
    let answer;
    try {
      answer = await askAdmin(path, { command: 'push-trace', host: jid.domain, args: { user: jid.local } });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOENT') continue; // a socket file left by a server that is gone
      throw new CommandFailed(`${path}: ${(err as Error).message}`);
    }
    if (!answer.ok) throw new CommandFailed(answer.error);
    results.push(answer.result as PushTraceResult);
  }
  if (results.length === 0) throw new CommandFailed(`no running server answered on the admin sockets in ${config.data_dir}`);
  const merged = mergeResults(results);
  out(opts.json ? `${JSON.stringify(merged, null, 2)}\n` : formatPushTrace(merged));
  return 0;
}

/** One result from the answers of several cluster workers: registrations once, entries by time. */
export function mergeResults(results: PushTraceResult[]): PushTraceResult {
  const first = results[0] as PushTraceResult;
  const regs = new Map<string, RegistrationInfo>();
  for (const r of results) {
    for (const reg of r.registrations) {
      const key = `${reg.appServer} ${reg.node}`;
      const seen = regs.get(key);
      // The worker holding the device's session knows its state and failures best.
      if (seen === undefined || (seen.session === 'none' && reg.session !== 'none') || reg.failures > seen.failures) regs.set(key, reg);
    }
  }
  const entries = results.flatMap((r) => r.entries).sort((a, b) => a.at - b.at);
  return { account: first.account, registrations: [...regs.values()], entries };
}

/** The text an operator reads: the registrations, then the decisions, oldest first. */
export function formatPushTrace(r: PushTraceResult): string {
  const lines: string[] = [`Push trace for ${r.account}`, ''];
  if (r.registrations.length === 0) {
    lines.push('Registrations: none. No client of this account has enabled push (XEP-0357), so no phone can be woken.');
  } else {
    lines.push(`Registrations (${r.registrations.length}):`);
    for (const reg of r.registrations) {
      const node = reg.node.length > 12 ? `${reg.node.slice(0, 12)}…` : reg.node;
      lines.push(`  ${reg.appServer} ${node}  resource ${reg.resource}  enabled ${iso(reg.enabledAt)}  session ${reg.session}  consecutive failures ${reg.failures}`);
    }
  }
  lines.push('');
  if (r.entries.length === 0) {
    lines.push('Decisions: none recorded since the server started (nothing important arrived for this account while a device could be woken).');
  } else {
    lines.push(`Decisions (${r.entries.length}, oldest first):`);
    for (const e of r.entries) lines.push(`  ${formatEntry(e)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatEntry(e: TraceEntry): string {
  const parts = [iso(e.at), e.decision.toUpperCase()];
  if (e.reason !== undefined) parts.push(`(${e.reason})`);
  parts.push(`${e.trigger}: ${e.what}`);
  if (e.registration !== undefined) parts.push(`→ ${e.registration}`);
  if (e.answer !== undefined) parts.push(`answer: ${e.answer}${e.latencyMs !== undefined ? ` in ${e.latencyMs} ms` : ''}${e.attempts !== undefined && e.attempts > 1 ? ` after ${e.attempts} attempts` : ''}`);
  else if (e.decision === 'sent') parts.push('answer: waiting');
  if (e.detail !== undefined) parts.push(`— ${e.detail}`);
  return parts.join('  ');
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
