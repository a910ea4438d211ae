/**
 * Certificates from an ACME CA (RFC 8555; Let's Encrypt or any other) for the virtual hosts that
 * name no certificate and the extra `[acme] domains` (components such as upload.example.org).
 * A global module, on by default, doing nothing until `[acme] directory` is set.
 *
 * At start (once the listeners are up: the CA's http-01 check reaches Canto's own HTTP server)
 * and every `check_interval`, each name whose certificate is the start-up stand-in, is missing,
 * or expires within `renew_before` is ordered; the key and chain are written to
 * `data_dir/acme/<name>.key|.crt` (0600, written then renamed) and installed in the running
 * server's TLS contexts: no restart, connected sessions untouched. A failure keeps the old
 * certificate, logs why, and is retried at the next check.
 *
 * http-01 answers (`/.well-known/acme-challenge/<token>`) are served on the `[http]` listeners
 * and, unless `challenge_port = 0` or it is already one of them, on a plain listener of their own
 * on `challenge_port` (80 by default: where CAs connect).
 *
 * The protocol is acme-client's (account, order, authorisations, finalisation, polling with
 * back-off); Canto adds the challenge responder, storage, scheduling and installation.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Agent, get as httpsGet } from 'node:https';
import { join } from 'node:path';
import type { Server as NetServer } from 'node:net';
import type * as AcmeClient from 'acme-client';
import { defineModule, type ModuleApi } from '../../core/modules.js';
import { acmeCertPaths } from '../../net/certificates.js';
import { DEFAULT_HTTP_LIMITS, sendText } from '../../net/http.js';
import { HttpRouter, type RouteSpec } from '../../net/http-router.js';
import { createHttpServer } from '../../net/http-server.js';
import { listenAll } from '../../net/listen.js';
import { TrustedProxies } from '../../net/proxy.js';
import type { AcmeConfig } from './config.js';

const PROBE_TIMEOUT_MS = 10_000;

export interface AcmeRenewal {
  domain: string;
  result: 'issued' | 'current' | 'failed';
  /** Why it failed (the CA's problem detail or the network error). */
  error?: string;
  /** The installed certificate's expiry (ms), when there is one. */
  notAfter?: number;
}

/** What the module provides (`mod.require('acme')`), for the CLI, the admin API and tests. */
export interface AcmeService {
  /** The names this server gets certificates for. */
  readonly domains: readonly string[];
  /** Checks every name now and orders what is due (as the periodic check does). */
  renewDue(): Promise<AcmeRenewal[]>;
}

declare module '../../core/services.js' {
  interface ServiceMap {
    acme: AcmeService;
  }
}

export default defineModule({
  name: 'acme',
  description: 'Certificates from an ACME CA (RFC 8555), obtained and renewed while running',
  scope: 'global',
  depends: ['http'],
  async setup(mod) {
    const cfg = mod.server.config.acme;
    if (cfg.directory === undefined) {
      mod.log.debug('ACME is off: [acme] directory is not set');
      return;
    }
    const dataDir = mod.server.config.data_dir;
    const domains = managedDomains(mod, cfg);
    if (domains.length === 0) {
      mod.log.info('ACME: every virtual host names its own certificate and [acme] domains is empty: nothing to obtain');
      return;
    }
    mkdirSync(join(dataDir, 'acme'), { recursive: true, mode: 0o700 });
    // Names that are not virtual hosts (components) get theirs installed from earlier runs now.
    for (const domain of domains) {
      const paths = acmeCertPaths(dataDir, domain);
      if (!mod.server.config.virtualhost.some((vh) => vh.domain === domain) && existsSync(paths.certificate) && existsSync(paths.key)) {
        mod.server.tls.replace(domain, readFileSync(paths.certificate, 'utf8'), readFileSync(paths.key, 'utf8'));
      }
    }

    const answers = new Map<string, string>(); // http-01 token → key authorisation
    const route: RouteSpec<undefined> = {
      path: '/.well-known/acme-challenge/:token',
      handler: (_req, res, ctx) => {
        const answer = answers.get(ctx.params.token ?? '');
        if (answer === undefined) sendText(res, 404, 'no such challenge\n');
        else sendText(res, 200, answer, 'text/plain');
      },
    };
    mod.onUnload(mod.require('http').route(route));
    const port = cfg.challenge_port;
    if (port !== 0 && !mod.server.config.http.ports.includes(port) && mod.server.runsServiceListeners) {
      const router = new HttpRouter();
      router.route(route);
      const servers: NetServer[] = await listenAll(
        mod.server.config.http.interfaces,
        [port],
        () => createHttpServer({ router, proxies: new TrustedProxies([]), limits: { ...DEFAULT_HTTP_LIMITS }, log: mod.log }),
        mod.log,
      );
      for (const s of servers) mod.server.registerListener('acme-challenge', s);
      mod.onUnload(async () => {
        for (const s of servers) {
          mod.server.unregisterListener(s);
          await new Promise<void>((r) => s.close(() => r()));
        }
      });
    }

    const issuer = new Issuer(mod, cfg, answers);
    let running: Promise<AcmeRenewal[]> | undefined;
    const renewDue = (): Promise<AcmeRenewal[]> => {
      // One pass at a time: a check that comes while one runs shares its outcome.
      running ??= issuer.renewDue(domains).finally(() => (running = undefined));
      return running;
    };
    mod.provides('acme', { domains, renewDue });
    mod.hook('server-started', () => {
      void renewDue();
    });
    mod.setInterval(() => void renewDue(), cfg.check_interval);
  },
});

/** Virtual hosts whose certificate is ACME's (none configured) and the extra names. */
function managedDomains(mod: ModuleApi, cfg: AcmeConfig): string[] {
  const dataDir = mod.server.config.data_dir;
  const out = new Set<string>();
  for (const vh of mod.server.config.virtualhost) {
    if (vh.domain !== 'localhost' && vh.certificate === acmeCertPaths(dataDir, vh.domain).certificate) out.add(vh.domain);
  }
  for (const d of cfg.domains) out.add(d);
  return [...out];
}

class Issuer {
  private client: AcmeClient.Client | undefined;
  private caAgent: Agent | undefined;

  constructor(
    private readonly mod: ModuleApi,
    private readonly cfg: AcmeConfig,
    private readonly answers: Map<string, string>,
  ) {}

  async renewDue(domains: readonly string[]): Promise<AcmeRenewal[]> {
    const out: AcmeRenewal[] = [];
    for (const domain of domains) out.push(await this.renewOne(domain));
    return out;
  }

  private async renewOne(domain: string): Promise<AcmeRenewal> {
    const paths = acmeCertPaths(this.mod.server.config.data_dir, domain);
    const current = readCertificate(paths.certificate);
    const now = this.mod.now();
    if (current && !current.selfSigned && current.notAfter - now > this.cfg.renew_before) {
      return { domain, result: 'current', notAfter: current.notAfter };
    }
    const why = !current ? 'no certificate yet' : current.selfSigned ? 'replacing the start-up stand-in' : 'expires soon';
    this.mod.log.info({ domain, why }, 'ACME: ordering a certificate');
    try {
      // A CA that cannot be reached is told apart first: acme-client retries a refused connection
      // for over a minute and then reports a TypeError of its own.
      await this.probeDirectory();
      const acme = await loadAcmeClient();
      const [key, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
      const chain = await (await this.acmeClient()).auto({
        csr,
        email: this.cfg.contact[0]?.replace(/^mailto:/, ''),
        termsOfServiceAgreed: this.cfg.accept_terms,
        challengePriority: ['http-01'],
        // The CA checks from outside; a self-check from here would resolve our own name through
        // whatever DNS this machine has, which says nothing about what the CA sees.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          this.answers.set(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: async (_authz, challenge) => {
          this.answers.delete(challenge.token);
        },
      });
      const keyPem = key.toString();
      writeAtomically(paths.key, keyPem, 0o600);
      writeAtomically(paths.certificate, chain, 0o644);
      this.mod.server.tls.replace(domain, chain, keyPem);
      const issued = readCertificate(paths.certificate);
      this.mod.log.info({ domain, notAfter: issued ? new Date(issued.notAfter).toISOString() : undefined }, 'ACME: certificate installed');
      return { domain, result: 'issued', ...(issued ? { notAfter: issued.notAfter } : {}) };
    } catch (err) {
      const error = describe(err);
      this.mod.log.warn({ domain, error }, 'ACME: could not obtain a certificate; the current one stays (retried at the next check)');
      return { domain, result: 'failed', error, ...(current ? { notAfter: current.notAfter } : {}) };
    }
  }

  /** Resolves when the directory answers (any HTTP status); rejects with why it cannot be reached. */
  private probeDirectory(): Promise<void> {
    const url = this.cfg.directory ?? '';
    return new Promise<void>((resolve, reject) => {
      const req = httpsGet(url, { agent: this.agent(), timeout: PROBE_TIMEOUT_MS }, (res) => {
        res.resume();
        resolve();
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`)));
      req.on('error', (err) => reject(new Error(`cannot reach the ACME directory ${url}: ${describe(err)}`)));
    });
  }

  /** The HTTPS agent for the CA: a private CA's certificate trusted when `ca_certificate` is set. */
  private agent(): Agent | undefined {
    if (this.cfg.ca_certificate === undefined) return undefined;
    this.caAgent ??= new Agent({ ca: readFileSync(this.cfg.ca_certificate, 'utf8') });
    return this.caAgent;
  }

  private async acmeClient(): Promise<AcmeClient.Client> {
    if (this.client) return this.client;
    const acme = await loadAcmeClient();
    const keyFile = join(this.mod.server.config.data_dir, 'acme', 'account.key');
    if (!existsSync(keyFile)) writeAtomically(keyFile, (await acme.crypto.createPrivateEcdsaKey('P-256')).toString(), 0o600);
    const agent = this.agent();
    // A private CA's directory: trust its certificate for the ACME requests (acme-client's HTTP
    // client is its own axios instance, so this changes nothing else in the process).
    if (agent) acme.axios.defaults.httpsAgent = agent;
    this.client = new acme.Client({ directoryUrl: this.cfg.directory ?? '', accountKey: readFileSync(keyFile, 'utf8') });
    return this.client;
  }
}

/** acme-client (with axios) loads on the first order: importing it costs ~27 MiB of RSS, which a server without [acme] should not pay. */
function loadAcmeClient(): Promise<typeof AcmeClient> {
  return import('acme-client');
}

function readCertificate(file: string): { notAfter: number; selfSigned: boolean } | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const cert = new X509Certificate(readFileSync(file));
    return { notAfter: Date.parse(cert.validTo), selfSigned: cert.issuer === cert.subject };
  } catch {
    return undefined;
  }
}

function writeAtomically(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

/** A one-line reason: a connection error to a name with several addresses is an AggregateError without a message. */
function describe(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return [...new Set(err.errors.map(describe))].join('; ');
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err.message !== '') return err.message;
    return code ?? err.name;
  }
  return String(err);
}
