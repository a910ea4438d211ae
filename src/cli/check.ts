/**
 * `canto check`: is this configuration ready to serve? The config, module options included,
 * was already validated on load (src/cli/main.ts); this checks each host's certificate and the DNS records clients and servers use to
 * find it, and says what to do about each problem. Exit 1 when something needs fixing.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { CantoConfig } from '../core/config.js';
import { acmeCertPaths, inspectCertificate, localhostCertPaths } from '../net/certificates.js';
import { existsSync } from 'node:fs';
import { builtinModules } from '../modules/index.js';
import { suggestModule } from '../core/modules.js';
import { checkModuleConfig } from '../core/module-config.js';
import { storageDriverEntry } from '../storage/registry.js';

type Line = { level: 'ok' | 'warn' | 'error'; text: string };

export async function runCheck(config: CantoConfig, file: string | undefined, opts: { dns: boolean }): Promise<number> {
  const lines: Line[] = [];
  lines.push({ level: 'ok', text: `configuration ${file ?? '(built-in default)'} is valid` });
  lines.push(...checkModules(config));
  lines.push(...(await checkStorage(config)));
  for (const vh of config.virtualhost) {
    lines.push(...checkCertificate(config, vh.domain, vh.certificate, vh.key));
    if (opts.dns) lines.push(...(await checkDns(vh.domain, config)));
  }
  for (const line of lines) {
    const tag = line.level === 'ok' ? 'ok   ' : line.level === 'warn' ? 'warn ' : 'ERROR';
    process.stdout.write(`${tag} ${line.text}\n`);
  }
  const errors = lines.filter((l) => l.level === 'error').length;
  const warnings = lines.filter((l) => l.level === 'warn').length;
  process.stdout.write(`\n${errors} error(s), ${warnings} warning(s)\n`);
  return errors > 0 ? 1 : 0;
}

/** A network storage driver (postgres): can its server be reached, and is its schema one this Canto can use? */
async function checkStorage(config: CantoConfig): Promise<Line[]> {
  const entry = storageDriverEntry(config);
  if (!entry.probe) return [];
  try {
    return [{ level: 'ok', text: `storage: ${await entry.probe(config)}` }];
  } catch (err) {
    const code = (err as { cantoCode?: unknown }).cantoCode;
    return [{ level: 'error', text: `storage: ${(err as Error).message}${typeof code === 'string' ? ` (${code})` : ''}` }];
  }
}

/** Module names no built-in module has are skipped at start: say so here, with a hint. */
function checkModules(config: CantoConfig): Line[] {
  const named = new Set([...config.modules_enabled, ...config.virtualhost.flatMap((vh) => [...vh.modules_enabled, ...vh.modules_disabled])]);
  const out: Line[] = [];
  for (const name of named) {
    if (builtinModules.has(name)) continue;
    const hint = suggestModule(name, builtinModules);
    out.push({ level: 'warn', text: `module "${name}" is not part of this version and will be skipped${hint ? ` (did you mean "${hint}"?)` : ''}` });
  }
  for (const warning of checkModuleConfig(config, builtinModules)) out.push({ level: 'warn', text: warning });
  return out;
}

function checkCertificate(config: CantoConfig, domain: string, certificate: string | undefined, key: string | undefined): Line[] {
  if (certificate === undefined || key === undefined) {
    if (domain === 'localhost') {
      const p = localhostCertPaths(config.data_dir);
      if (!existsSync(p.certificate)) return [{ level: 'ok', text: `${domain}: a self-signed certificate will be made on first start in ${config.data_dir}` }];
      return reportCertificate(domain, p.certificate, p.key);
    }
    if (config.acme.directory !== undefined) {
      const p = acmeCertPaths(config.data_dir, domain);
      if (!existsSync(p.certificate)) return [{ level: 'ok', text: `${domain}: a certificate will be obtained from ${config.acme.directory} at start (http-01 on port ${config.acme.challenge_port || config.http.ports.join(', ')})` }];
      return reportCertificate(domain, p.certificate, p.key);
    }
    return [{
      level: 'error',
      text: `${domain}: no certificate configured. Get one that names ${domain} (e.g. from Let's Encrypt) and set certificate = "…" and key = "…" in its [[virtualhost]] table, or set [acme] directory to have Canto get one`,
    }];
  }
  return reportCertificate(domain, certificate, key);
}

function reportCertificate(domain: string, certificate: string, key: string): Line[] {
  const r = inspectCertificate(domain, { certificate, key });
  if (r.ok) {
    const days = r.notAfter ? Math.floor((r.notAfter.getTime() - Date.now()) / 86_400_000) : undefined;
    const out: Line[] = [{ level: 'ok', text: `${domain}: certificate ${certificate} is valid${days !== undefined ? ` for ${days} more days` : ''}` }];
    if (days !== undefined && days < 14) out.push({ level: 'warn', text: `${domain}: the certificate expires in ${days} days: renew it` });
    return out;
  }
  return r.problems.map((p) => ({ level: 'error' as const, text: `${domain}: ${p}` }));
}

/** DNS look-ups bounded in time, so `check` on a machine without network finishes quickly. */
async function checkDns(domain: string, config: CantoConfig): Promise<Line[]> {
  if (domain === 'localhost' || domain.endsWith('.localhost') || isIP(domain) || domain.endsWith('.test') || domain.endsWith('.example')) {
    return [{ level: 'ok', text: `${domain}: a local or reserved name, no DNS records needed` }];
  }
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  const out: Line[] = [];
  const srv = async (name: string) => {
    try {
      return await resolver.resolveSrv(name);
    } catch {
      return [];
    }
  };
  const addrs = async () => {
    const [a, aaaa] = await Promise.all([resolver.resolve4(domain).catch(() => []), resolver.resolve6(domain).catch(() => [])]);
    return [...a, ...aaaa];
  };
  const c2sPort = config.c2s.ports[0] ?? 5222;
  const s2sPort = config.s2s.ports[0] ?? 5269;
  const [client, clientTls, server, serverTls, ips] = await Promise.all([
    srv(`_xmpp-client._tcp.${domain}`),
    srv(`_xmpps-client._tcp.${domain}`),
    srv(`_xmpp-server._tcp.${domain}`),
    srv(`_xmpps-server._tcp.${domain}`),
    addrs(),
  ]);
  const show = (r: { name: string; port: number }[]) => r.map((x) => `${x.name}:${x.port}`).join(', ');
  if (client.length) out.push({ level: 'ok', text: `${domain}: _xmpp-client._tcp → ${show(client)}` });
  else if (ips.length) out.push({ level: 'warn', text: `${domain}: no _xmpp-client._tcp SRV record; clients will try ${domain}:5222. Add: _xmpp-client._tcp.${domain}. SRV 0 5 ${c2sPort} ${domain}.` });
  if (clientTls.length) out.push({ level: 'ok', text: `${domain}: _xmpps-client._tcp → ${show(clientTls)}` });
  if (server.length) out.push({ level: 'ok', text: `${domain}: _xmpp-server._tcp → ${show(server)}` });
  else if (ips.length) out.push({ level: 'warn', text: `${domain}: no _xmpp-server._tcp SRV record; other servers will try ${domain}:5269. Add: _xmpp-server._tcp.${domain}. SRV 0 5 ${s2sPort} ${domain}.` });
  if (serverTls.length) out.push({ level: 'ok', text: `${domain}: _xmpps-server._tcp → ${show(serverTls)}` });
  if (ips.length === 0 && client.length === 0 && server.length === 0) {
    out.push({ level: 'error', text: `${domain}: no A/AAAA or SRV records found (or DNS is unreachable). Point ${domain} (A/AAAA) or its SRV records at this server` });
  } else if (ips.length) {
    out.push({ level: 'ok', text: `${domain}: resolves to ${ips.join(', ')}` });
  }
  return out;
}
