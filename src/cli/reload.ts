/**
 * `canto reload [--json]`: ask the running server, through its admin socket
 * (src/modules/adminsocket), to read its configuration file again and apply it (the same as
 * SIGHUP; src/app/reload.ts), and print what it did: the changes applied, those that need a
 * restart, or the errors that made it refuse the file (then nothing changed).
 */
import type { CantoConfig } from '../core/config.js';
import { askAdmin, findAdminSockets } from '../modules/adminsocket/protocol.js';
import type { ReloadOutcome } from '../app/reload.js';
import { CommandFailed } from './errors.js';

/** Reloads can wait for modules to unload and load again: more than a usual admin question. */
const RELOAD_TIMEOUT_MS = 60_000;

export async function runReload(config: CantoConfig, opts: { json: boolean }, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (config.cluster.workers > 1) {
    // The local nodes' sockets do not answer it: say why instead of an opaque refusal.
    throw new CommandFailed(
      `live reload is not available with [cluster] workers = ${config.cluster.workers}: each local node holds its own hosts, modules and sessions, and a reload would have to be applied by every node or none (a file one node accepts and another refuses would split the cluster); restart to apply configuration changes`,
    );
  }
  const sockets = findAdminSockets(config.data_dir);
  if (sockets.length === 0) {
    throw new CommandFailed(`no running server found: no admin socket in ${config.data_dir} (is "canto start" running with this configuration? SIGHUP reloads too)`);
  }
  const outcomes: ReloadOutcome[] = [];
  for (const path of sockets) {
    let answer;
    try {
      answer = await askAdmin(path, { command: 'reload' }, RELOAD_TIMEOUT_MS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED' || code === 'ENOENT') continue; // a socket file left by a server that is gone
      throw new CommandFailed(`${path}: ${(err as Error).message}`);
    }
    if (!answer.ok) throw new CommandFailed(answer.error);
    outcomes.push(answer.result as ReloadOutcome);
  }
  if (outcomes.length === 0) throw new CommandFailed(`no running server answered on the admin sockets in ${config.data_dir}`);
  out(opts.json ? `${JSON.stringify(outcomes.length === 1 ? outcomes[0] : outcomes, null, 2)}\n` : outcomes.map(formatReload).join('\n'));
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

/** The text an operator reads. */
export function formatReload(o: ReloadOutcome): string {
  const lines: string[] = [];
  if (!o.ok && o.applied.length === 0) {
    lines.push('Configuration refused: the running configuration stays in force.', ...o.errors.map((e) => `  ${e}`));
    return `${lines.join('\n')}\n`;
  }
  lines.push(o.applied.length === 0 ? 'Configuration reloaded: nothing to change.' : `Configuration reloaded: ${o.applied.length} change${o.applied.length === 1 ? '' : 's'} applied.`);
  for (const a of o.applied) lines.push(`  applied: ${a}`);
  for (const r of o.needsRestart) lines.push(`  needs restart (not applied): ${r}`);
  for (const e of o.errors) lines.push(`  failed: ${e}`);
  return `${lines.join('\n')}\n`;
}
