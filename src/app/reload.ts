/**
 * Live reload (`canto reload`, SIGHUP; docs/operations.md, "Reloading"): read the configuration
 * file again, refuse it whole when it is invalid (its errors, by line and key, as at start-up),
 * check the certificates it names, then apply it to the running server (Server.reconfigure in
 * src/core/reconfigure.ts says what changes live and what needs a restart) and install the
 * certificates of added hosts and of hosts whose certificate paths changed.
 *
 * It also watches the configured certificate and key files (stat polling, so a certbot renewal
 * that swaps symlinks is seen too) and installs a renewed pair once both files have settled and
 * match; a half-written pair is left until it is whole, the old certificate staying in use.
 */
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from '../core/logging.js';
import type { Server } from '../core/server.js';
import type { CantoConfig } from '../core/config.js';
import type { CounterMetric } from '../core/metrics.js';
import { checkModuleConfig } from '../core/module-config.js';
import { ConfigError, loadConfig } from './config.js';
import { ensureHostCertificates, inspectCertificate } from '../net/certificates.js';
import type { AdminCommands } from '../modules/adminsocket/index.js';

/** What one reload did, as the log, `canto reload` and the admin command show it. */
export interface ReloadOutcome {
  ok: boolean;
  /** What triggered it: 'SIGHUP', 'canto reload', … */
  trigger: string;
  applied: string[];
  needsRestart: string[];
  /** Why the configuration was refused (nothing changed), or what failed while applying it. */
  errors: string[];
}

export interface ReloaderOptions {
  /** How often the certificate files are checked (ms). */
  certificatePollMs?: number;
  /** How long certificate files must stay unchanged before they are read (ms). */
  certificateSettleMs?: number;
}

const DEFAULT_CERT_POLL_MS = 10_000;
const DEFAULT_CERT_SETTLE_MS = 2_000;

/** Certificate problems that stop a host from being served (as at start-up: expiry and names only warn). */
function fatalProblems(problems: string[]): string[] {
  return problems.filter((p) => !p.startsWith('the certificate expired') && !p.includes('does not name'));
}

export class Reloader {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly counter: CounterMetric<'result'>;
  private readonly certCounter: CounterMetric<'result'>;
  private readonly watched = new Map<string, () => void>();
  private readonly settleTimers = new Map<string, NodeJS.Timeout>();
  private readonly cleanups: Array<() => void> = [];
  private readonly pollMs: number;
  private readonly settleMs: number;

  constructor(
    private readonly server: Server,
    /** The file the server was started with (undefined: the built-in default, nothing to reload). */
    private readonly file: string | undefined,
    private readonly log: Logger,
    opts: ReloaderOptions = {},
  ) {
    this.pollMs = opts.certificatePollMs ?? DEFAULT_CERT_POLL_MS;
    this.settleMs = opts.certificateSettleMs ?? DEFAULT_CERT_SETTLE_MS;
    const measure = server.metrics.scope('core');
    this.counter = measure.counter('config_reloads_total', 'Configuration reloads (canto reload, SIGHUP), by result: ok or failed (refused)', ['result']);
    this.certCounter = measure.counter('certificate_reloads_total', 'Certificates installed again because their files changed on disk, by result: ok or failed (left for the next change)', ['result']);
    for (const result of ['ok', 'failed']) {
      this.counter.inc({ result }, 0);
      this.certCounter.inc({ result }, 0);
    }
  }

  /** Reload on SIGHUP, answer `canto reload` on the admin socket, watch the certificate files. */
  start(): this {
    const onHup = (): void => void this.reload('SIGHUP');
    process.on('SIGHUP', onHup);
    this.cleanups.push(() => process.off('SIGHUP', onHup));
    const admin = this.server.services.get('admin-commands') as AdminCommands | undefined;
    if (admin) this.cleanups.push(admin.register('reload', '*', () => this.reload('canto reload')));
    else this.log.info('the admin socket is not loaded: `canto reload` cannot reach this server; SIGHUP reloads');
    this.watchCertificates();
    return this;
  }

  close(): void {
    for (const fn of this.cleanups.splice(0)) fn();
    for (const path of [...this.watched.keys()]) this.unwatch(path);
    for (const t of this.settleTimers.values()) clearTimeout(t);
    this.settleTimers.clear();
  }

  /** Read the file again and apply it; one reload at a time (a second waits for the first). */
  reload(trigger: string): Promise<ReloadOutcome> {
    const run = this.queue.then(() => this.reloadNow(trigger));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Never rejects: anything unexpected is logged and reported as a failed reload (SIGHUP must not crash the server). */
  private async reloadNow(trigger: string): Promise<ReloadOutcome> {
    try {
      return await this.apply(trigger);
    } catch (err) {
      this.counter.inc({ result: 'failed' });
      this.log.error({ err, trigger }, 'reload failed');
      return { ok: false, trigger, applied: [], needsRestart: [], errors: [`the reload failed: ${(err as Error).message} (see the server log)`] };
    }
  }

  private async apply(trigger: string): Promise<ReloadOutcome> {
    const outcome: ReloadOutcome = { ok: false, trigger, applied: [], needsRestart: [], errors: [] };
    this.log.info({ trigger, config: this.file }, 'reloading the configuration');
    const next = await this.readConfig(outcome);
    const certificates = next ? await this.checkCertificates(next, outcome) : undefined;
    if (!next || !certificates) {
      this.counter.inc({ result: 'failed' });
      this.log.error({ trigger, errors: outcome.errors }, `configuration refused, the running one stays in force:\n${outcome.errors.join('\n')}`);
      return outcome;
    }
    for (const [domain, pems] of certificates) {
      this.server.tls.replace(domain, pems.certificate, pems.key);
      outcome.applied.push(`host ${domain}: certificate installed from ${pems.path}`);
    }
    const report = await this.server.reconfigure(next);
    outcome.applied.unshift(...report.applied);
    outcome.needsRestart.push(...report.needsRestart);
    outcome.errors.push(...report.failed);
    outcome.ok = report.failed.length === 0;
    this.counter.inc({ result: outcome.ok ? 'ok' : 'failed' });
    for (const change of outcome.applied) this.log.info({ trigger }, `reload: ${change}`);
    for (const change of outcome.needsRestart) this.log.warn({ trigger }, `reload: ${change}`);
    for (const failure of report.failed) this.log.error({ trigger }, `reload: ${failure}`);
    this.log.info({ trigger, applied: outcome.applied.length, needs_restart: outcome.needsRestart.length }, outcome.applied.length === 0 ? 'configuration reloaded: nothing to change' : 'configuration reloaded');
    this.watchCertificates();
    return outcome;
  }

  private async readConfig(outcome: ReloadOutcome): Promise<CantoConfig | undefined> {
    if (this.file === undefined) {
      outcome.errors.push('the server was started without a configuration file (built-in default): there is nothing to reload');
      return undefined;
    }
    try {
      const { config } = loadConfig(this.file);
      for (const warning of checkModuleConfig(config, this.server.registry)) this.log.warn(warning);
      return config;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      outcome.errors.push(...err.message.split('\n').filter((l) => l.trim() !== ''));
      return undefined;
    }
  }

  /**
   * Fill in the localhost and ACME certificate paths as start-up does, check every host's pair,
   * and read those to install: hosts that are new or whose paths changed. Undefined when a pair
   * is unusable (the reload is refused).
   */
  private async checkCertificates(next: CantoConfig, outcome: ReloadOutcome): Promise<Map<string, { certificate: string; key: string; path: string }> | undefined> {
    const running = this.server.config;
    // data_dir and [acme] are restart-only: the running values say where certificates live.
    const view = { ...next, data_dir: running.data_dir, acme: running.acme } as CantoConfig;
    try {
      await ensureHostCertificates(view, this.log);
    } catch (err) {
      outcome.errors.push(`certificates: ${(err as Error).message}`);
      return undefined;
    }
    const install = new Map<string, { certificate: string; key: string; path: string }>();
    for (const vh of next.virtualhost) {
      if (vh.certificate === undefined || vh.key === undefined) {
        outcome.errors.push(`${vh.domain} has no certificate: set certificate = "…" and key = "…" in its [[virtualhost]] table`);
        continue;
      }
      const fatal = fatalProblems(inspectCertificate(vh.domain, { certificate: vh.certificate, key: vh.key }).problems);
      if (fatal.length > 0) {
        outcome.errors.push(`${vh.domain}: ${fatal.join('; ')}`);
        continue;
      }
      const before = running.virtualhost.find((h) => h.domain === vh.domain);
      if (before && before.certificate === vh.certificate && before.key === vh.key) continue;
      install.set(vh.domain, { certificate: readFileSync(vh.certificate, 'utf8'), key: readFileSync(vh.key, 'utf8'), path: vh.certificate });
    }
    return outcome.errors.length > 0 ? undefined : install;
  }

  /** Watch the certificate and key files of the hosts in force (again after a reload). */
  private watchCertificates(): void {
    const wanted = new Map<string, string>(); // path → domain
    for (const vh of this.server.config.virtualhost) {
      if (vh.certificate !== undefined) wanted.set(vh.certificate, vh.domain);
      if (vh.key !== undefined) wanted.set(vh.key, vh.domain);
    }
    for (const path of [...this.watched.keys()]) if (!wanted.has(path)) this.unwatch(path);
    for (const [path, domain] of wanted) {
      if (this.watched.has(path)) continue;
      const listener = (now: Stats, before: Stats): void => {
        if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
        this.certificateChanged(domain);
      };
      watchFile(path, { interval: this.pollMs, persistent: false }, listener);
      this.watched.set(path, () => unwatchFile(path, listener));
    }
  }

  private unwatch(path: string): void {
    this.watched.get(path)?.();
    this.watched.delete(path);
  }

  /** A certificate or key file of `domain` changed: once both have settled, install the pair. */
  private certificateChanged(domain: string): void {
    clearTimeout(this.settleTimers.get(domain));
    const timer = setTimeout(() => {
      this.settleTimers.delete(domain);
      this.installFromDisk(domain);
    }, this.settleMs);
    timer.unref();
    this.settleTimers.set(domain, timer);
  }

  private installFromDisk(domain: string): void {
    const vh = this.server.config.virtualhost.find((h) => h.domain === domain);
    if (vh?.certificate === undefined || vh.key === undefined) return;
    const paths = { certificate: vh.certificate, key: vh.key };
    const fatal = fatalProblems(inspectCertificate(domain, paths).problems);
    if (fatal.length > 0) {
      this.certCounter.inc({ result: 'failed' });
      this.log.warn({ host: domain, problems: fatal }, 'certificate files changed but are not usable (yet): the certificate in use is kept');
      return;
    }
    let certificate: string;
    let key: string;
    try {
      certificate = readFileSync(paths.certificate, 'utf8');
      key = readFileSync(paths.key, 'utf8');
    } catch (err) {
      this.certCounter.inc({ result: 'failed' });
      this.log.warn({ host: domain, err: (err as Error).message }, 'certificate files changed but cannot be read: the certificate in use is kept');
      return;
    }
    if (this.server.tls.forDomain(domain)?.certificatePem === certificate) return;
    this.server.tls.replace(domain, certificate, key);
    this.certCounter.inc({ result: 'ok' });
    this.log.info({ host: domain, certificate: paths.certificate }, 'certificate changed on disk: installed (new TLS connections use it)');
  }
}
