/**
 * A real ejabberd (Debian package, 23.01) for interop tests: a temp dir with config, Mnesia spool,
 * log and an Erlang resolver file; c2s and s2s on free 127.0.0.1 ports; the Erlang VM as a child
 * (no distribution, so no epmd and no node name); stopped by its PID.
 *
 * The VM is started with `erl -eval`, not ejabberdctl: ejabberdctl runs the system service's
 * node, config, spool and log. The eval starts the ejabberd application, registers the accounts
 * (ejabberd_auth:try_register) and prints a ready marker. It then reads Erlang expressions from
 * its stdin, one per line, and prints each one's value: `eval()` runs code inside the running
 * ejabberd (e.g. `ejabberd_piefxis:export_host/2`) without Erlang distribution or ejabberdctl.
 *
 * Name resolution: ejabberd looks up SRV records with Erlang's own DNS client (inet_res), which
 * ignores the hosts file; the file named by ERL_INETRC makes the test's DNS server
 * (test/helpers/dnsmasq.ts) its only name server. The SRV targets' addresses are then looked up
 * through the system resolver (getaddrinfo), so tests point SRV records at `localhost`.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './prosody.js';
import { stopChild, whenPeerReady } from './peer.js';
import { waitFor } from '../../src/testing/index.js';

export const ERL_BIN = '/usr/bin/erl';
/** Where Debian's ejabberd package keeps its Erlang applications (ERL_LIBS). */
export const EJABBERD_LIBS = '/usr/lib/x86_64-linux-gnu';

/** Why ejabberd cannot be used here, or undefined when it can. */
export function ejabberdMissing(): string | undefined {
  if (!existsSync(ERL_BIN)) return `${ERL_BIN} not found`;
  if (!existsSync(join(EJABBERD_LIBS, 'ejabberd-23.01-1', 'ebin', 'ejabberd.app')) && !existsSync(join(EJABBERD_LIBS, 'ejabberd-23.01', 'ebin', 'ejabberd.app'))) {
    return `ejabberd 23.01 not found under ${EJABBERD_LIBS}`;
  }
  return undefined;
}

export interface EjabberdOptions {
  domain: string;
  /** More hosts served by the same ejabberd (their certificates: `certificate` is served for all). */
  extraHosts?: string[];
  /** Certificate and key (PEM files) for `domain`. */
  certificate: string;
  key: string;
  /** Trusted CAs for s2s certificate checks (ejabberd `ca_file`); without it the system CAs (so dialback with a test CA). */
  caFile?: string;
  /** The DNS server ejabberd asks ("127.0.0.1:port"), e.g. a test dnsmasq with the peers' SRV and A records. */
  nameserver: string;
  /** Accounts to create: user → password. */
  accounts?: Record<string, string>;
  /** Extra top-level YAML lines (e.g. `s2s_use_starttls: required`). */
  extraConfig?: string[];
  /** Extra modules (YAML under `modules:`, name → options as a YAML flow string, e.g. '{}'). */
  modules?: Record<string, string>;
}

export interface RunningEjabberd {
  dir: string;
  domain: string;
  c2sPort: number;
  s2sPort: number;
  pid: number;
  /** The tail of ejabberd's log, for failure messages. */
  logTail(chars?: number): string;
  /**
   * Evaluates one Erlang expression sequence (no trailing '.') in the ejabberd VM and resolves
   * with its value as Erlang prints it (`~0tp`, one line); rejects if it raised. One at a time.
   */
  eval(code: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

const yamlString = (s: string) => JSON.stringify(s);

function erlString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function ipTuple(ip: string): string {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p))) throw new Error(`not an IPv4 address: ${ip}`);
  return `{${parts.join(',')}}`;
}

function configYaml(opts: EjabberdOptions, c2sPort: number, s2sPort: number): string {
  const modules: Record<string, string> = {
    mod_disco: '{}',
    mod_ping: '{}',
    mod_roster: '{}',
    mod_s2s_dialback: '{}',
    ...opts.modules,
  };
  const lines = [
    '# Written by test/helpers/ejabberd.ts',
    `hosts: [${[opts.domain, ...(opts.extraHosts ?? [])].map(yamlString).join(', ')}]`,
    'loglevel: debug',
    'log_rotate_count: 0',
    'certfiles:',
    `  - ${yamlString(opts.certificate)}`,
    `  - ${yamlString(opts.key)}`,
    ...(opts.caFile !== undefined ? [`ca_file: ${yamlString(opts.caFile)}`] : []),
    'listen:',
    `  - port: ${c2sPort}`,
    '    ip: "127.0.0.1"',
    '    module: ejabberd_c2s',
    '    starttls_required: true',
    `  - port: ${s2sPort}`,
    '    ip: "127.0.0.1"',
    '    module: ejabberd_s2s_in',
    's2s_use_starttls: required',
    'outgoing_s2s_families: [ipv4]',
    'auth_method: internal',
    'acl:',
    '  local:',
    '    user_regexp: ""',
    'access_rules:',
    '  local:',
    '    allow: local',
    '  s2s:',
    '    allow: all',
    's2s_access: s2s',
    ...(opts.extraConfig ?? []),
    'modules:',
    ...Object.entries(modules).map(([name, o]) => `  ${name}: ${o}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Erlang resolver configuration: the given name server only (no resolv.conf, no hosts file). */
function inetrc(nameserver: string): string {
  const i = nameserver.lastIndexOf(':');
  const ip = nameserver.slice(0, i);
  const port = Number(nameserver.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`nameserver must be ip:port, got ${nameserver}`);
  const lines = ['{resolv_conf, ""}.', '{hosts_file, ""}.', `{nameserver, ${ipTuple(ip)}, ${port}}.`, '{lookup, [dns]}.'];
  return `${lines.join('\n')}\n`;
}


const READY = 'canto-ejabberd-ready';
const EVAL_RESULT = 'canto-ejabberd-eval:';

/**
 * Erlang run after the ready marker: read a line from stdin, evaluate it, print
 * `canto-ejabberd-eval:ok:VALUE` or `canto-ejabberd-eval:error:REASON` on one line; until stdin ends.
 */
const EVAL_LOOP =
  'spawn(fun() -> Loop = fun L() -> case io:get_line(standard_io, "") of eof -> ok; {error, _} -> ok; Line -> ' +
  'R = try {ok, Ts, _} = erl_scan:string(Line), {ok, Es} = erl_parse:parse_exprs(Ts), {value, V, _} = erl_eval:exprs(Es, erl_eval:new_bindings()), {ok, V} ' +
  'catch C:E -> {error, {C, E}} end, ' +
  `case R of {ok, V2} -> io:format("${EVAL_RESULT}ok:~0tp~n", [V2]); {error, E2} -> io:format("${EVAL_RESULT}error:~0tp~n", [E2]) end, L() end end, Loop() end)`;

/** Start ejabberd, register the accounts and wait until it says it is ready. */
export async function startEjabberd(opts: EjabberdOptions): Promise<RunningEjabberd> {
  const dir = mkdtempSync(join(tmpdir(), 'canto-ejabberd-'));
  mkdirSync(join(dir, 'spool'), { recursive: true });
  const c2sPort = await freePort();
  const s2sPort = await freePort();
  const configFile = join(dir, 'ejabberd.yml');
  writeFileSync(configFile, configYaml(opts, c2sPort, s2sPort));
  writeFileSync(join(dir, 'inetrc'), inetrc(opts.nameserver));
  const registrations = Object.entries(opts.accounts ?? {})
    .map(([user, password]) => `ok = ejabberd_auth:try_register(<<${erlString(user)}/utf8>>, <<${erlString(opts.domain)}/utf8>>, <<${erlString(password)}/utf8>>)`)
    .join(', ');
  const evalCode = `{ok, _} = application:ensure_all_started(ejabberd), ${registrations}${registrations ? ', ' : ''}io:format("${READY}~n"), ${EVAL_LOOP}.`;

  const out = createWriteStream(join(dir, 'stdout.log'));
  // -noshell, not -noinput: the eval loop reads stdin.
  const child = spawn(ERL_BIN, ['-noshell', '-mnesia', 'dir', erlString(join(dir, 'spool')), '-eval', evalCode], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      HOME: dir,
      ERL_LIBS: EJABBERD_LIBS,
      EJABBERD_CONFIG_PATH: configFile,
      EJABBERD_LOG_PATH: join(dir, 'ejabberd.log'),
      ERL_INETRC: join(dir, 'inetrc'),
      ERL_CRASH_DUMP_BYTES: '0',
    },
  });
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    out.write(d);
  });
  child.stderr?.pipe(out);
  const logTail = (chars = 4000): string =>
    ['stdout.log', 'ejabberd.log']
      .map((f) => join(dir, f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f, 'utf8').slice(-chars))
      .join('\n');
  let evalChain: Promise<unknown> = Promise.resolve();
  let evalSeen = 0;
  const evalOnce = async (code: string, timeoutMs: number): Promise<string> => {
    if (code.includes('\n')) throw new Error('eval: the code must be one line');
    const before = stdout.split(EVAL_RESULT).length - 1;
    if (before !== evalSeen) throw new Error('eval: an earlier result is unaccounted for');
    child.stdin?.write(`${code.trim().replace(/\.$/, '')}.\n`);
    let line = '';
    await waitFor(
      () => {
        const parts = stdout.split(EVAL_RESULT);
        if (parts.length - 1 <= before) return false;
        const rest = parts[before + 1] ?? '';
        const nl = rest.indexOf('\n');
        if (nl < 0) return false;
        line = rest.slice(0, nl);
        return true;
      },
      { timeoutMs, intervalMs: 50, message: `ejabberd did not answer eval of ${code}` },
    );
    evalSeen = before + 1;
    if (line.startsWith('ok:')) return line.slice(3);
    throw new Error(`ejabberd eval of ${code} failed: ${line.replace(/^error:/, '')}`);
  };
  const runEval = (code: string, timeoutMs = 10_000): Promise<string> => {
    const run = evalChain.then(() => evalOnce(code, timeoutMs));
    evalChain = run.catch(() => undefined);
    return run;
  };
  const stop = async (): Promise<void> => {
    child.stdin?.end();
    await stopChild(child, 5000);
    out.end();
    if (!process.env.CANTO_KEEP_EJABBERD) rmSync(dir, { recursive: true, force: true });
  };
  const pid = await whenPeerReady('ejabberd', child, () => stdout.includes(READY), 30, { logTail: () => logTail(3000), stop });
  return { dir, domain: opts.domain, c2sPort, s2sPort, pid, logTail, eval: runEval, stop };
}
