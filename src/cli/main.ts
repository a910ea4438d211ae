#!/usr/bin/env node
/**
 * The `canto` command: start the server and manage accounts. Exit codes:
 *   0 success · 1 the operation failed (e.g. the account exists, `check` found problems)
 *   2 usage error · 78 configuration error (EX_CONFIG)
 *
 * `canto` and `npm start` run this through bin/canto, the launcher that chooses the memory
 * allocator (jemalloc when present, else glibc with a 16 KiB mmap threshold) and caps V8's young
 * generation at 2 MiB per semi-space. Both must be in place before node starts (the allocator is
 * preloaded; V8 sizes the heap before any code runs), so they cannot be set from here
 * (docs/configuration.md, "Node.js runtime flags and memory allocator").
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { loadConfig, ConfigError, type CantoConfig } from '../app/config.js';
import { runStart } from './start.js';
import { runAdduser, runPasswd, runDeluser } from './accounts.js';
import { runCheck } from './check.js';
import { runCheckFeatures } from './check-features.js';
import { runPushTrace } from './push-trace.js';
import { runInvite } from './invites.js';
import { runUserState } from './user-state.js';
import { runCluster } from './cluster-status.js';
import { runReports } from './reports.js';
import { runToken } from './tokens.js';
import { runReload } from './reload.js';
import { runExport, runImport } from './migrate.js';
import { EXIT, UsageError, CommandFailed } from './errors.js';
import { StorageSchemaTooNewError, StorageUnavailableError } from '../storage/errors.js';
import { checkModuleConfig } from '../core/module-config.js';
import { builtinModules } from '../modules/index.js';


const HELP = `Usage: canto <command> [options]

Commands:
  start                    run the server (stops cleanly on SIGTERM/SIGINT)
  adduser JID [--password P]  create an account (prompts for the password when omitted)
  passwd JID [--password P]   change an account's password
  deluser JID              delete an account and all its data
  user disable JID [--reason R]  refuse the account's logins (RFC 6120 account-disabled);
                           a running server also closes its sessions and revokes its FAST tokens
  user enable JID          allow its logins again
  check [--no-dns]         check the configuration, certificates and DNS records
  check features [--jid JID --password P | --host H] [--json]
                           log in to the running server (as JID, or as a throwaway account)
                           and report which XEP-0479 compliance items it advertises and proves
  push-trace JID [--json]  the last push notification decisions for an account, from
                           the running server (docs/push.md)
  reload [--json]          make the running server read its configuration file again
                           (as SIGHUP does) and print what changed (docs/operations.md)
  invite create [--expires 7d] [--uses N] [--group G] [--admin] [--inviter JID] [--host H] [--json]
                           an invite link (docs/invites.md); --admin: the account may invite;
                           --inviter: the new account and JID are subscribed to each other
  invite list [--host H] [--json]   the invites not yet expired
  invite revoke TOKEN [--host H]    withdraw an invite
  cluster status [--json]  the nodes of a Redis-backed cluster: leases, sessions, queues
                           (docs/scaling.md)
  token create --scope AREA:read|write [--scope …] [--expires 30d] [--name N] [--json]
                           an admin API bearer token (docs/admin-api.md), printed once;
                           areas: users sessions rosters rooms invites push announcements
                           server, or * for all
  token list [--json]      the admin API tokens (never the secrets)
  token revoke ID|NAME     withdraw a token
  export [--host H] [--out FILE|DIR]
                           accounts and their data as XEP-0227 (docs/migration.md); a DIR
                           (existing, or ending in /) gets one file per account
  import FILE|DIR [--from xep0227|prosody|prosody-sql] [--dry-run]
                           import XEP-0227 (Canto, Prosody, ejabberd), a Prosody data
                           directory or a Prosody SQLite database; --dry-run only reports
  reports [list] [--all] [--host H] [--json]   spam and abuse reports (XEP-0377), open ones
                           unless --all
  reports show ID [--json]  one report with the reported message
  reports resolve ID [--confirm]  close a report; --confirm: a spammer, published to the
                           server's block list when one is configured and the server runs

Options:
  --config FILE            configuration file (default: ./canto.toml if present,
                           otherwise a built-in default serving localhost)
  --version                print the version
  --help                   print this help

Exit codes: 0 success, 1 operation failed, 2 usage error, 78 configuration error.
`;

export function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/cli → the package root is three levels up.
  const pkg = JSON.parse(readFileSync(join(here, '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        password: { type: 'string', short: 'p' },
        'no-dns': { type: 'boolean' },
        json: { type: 'boolean' },
        jid: { type: 'string' },
        expires: { type: 'string' },
        uses: { type: 'string' },
        group: { type: 'string' },
        admin: { type: 'boolean' },
        host: { type: 'string' },
        reason: { type: 'string' },
        inviter: { type: 'string' },
        confirm: { type: 'boolean' },
        all: { type: 'boolean' },
        scope: { type: 'string', multiple: true },
        name: { type: 'string' },
        out: { type: 'string' },
        from: { type: 'string' },
        'dry-run': { type: 'boolean' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`canto: ${(err as Error).message}\n\n${HELP}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`canto ${version()}\n`);
    return EXIT.ok;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  if (command === undefined) {
    process.stderr.write(HELP);
    return EXIT.usage;
  }

  let config: CantoConfig;
  let file: string | undefined;
  try {
    ({ config, file } = loadConfig(values.config));
    // The [modules.*] tables are checked against the built-in modules' option schemas too,
    // so every command (`check` above all) reports a bad module option with exit code 78.
    // Its warnings (tables no module reads) are shown by `check` and logged by `start`.
    checkModuleConfig(config, builtinModules);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`canto: configuration error\n${err.message}\n`);
      if (command === 'reload') process.stderr.write('canto: the running server was not asked to reload: its configuration stays in force\n');
      return EXIT.config;
    }
    throw err;
  }

  try {
    switch (command) {
      case 'start':
        expectArgs(command, rest, 0);
        return await runStart(config, file);
      case 'adduser':
        expectArgs(command, rest, 1);
        return await runAdduser(config, rest[0] as string, values.password);
      case 'passwd':
        expectArgs(command, rest, 1);
        return await runPasswd(config, rest[0] as string, values.password);
      case 'deluser':
        expectArgs(command, rest, 1);
        return await runDeluser(config, rest[0] as string);
      case 'check':
        if (rest[0] === 'features') {
          expectArgs('check features', rest.slice(1), 0);
          return await runCheckFeatures(config, { jid: values.jid, password: values.password, host: values.host, json: values.json === true });
        }
        expectArgs(command, rest, 0);
        return await runCheck(config, file, { dns: !values['no-dns'] });
      case 'push-trace':
        expectArgs(command, rest, 1);
        return await runPushTrace(config, rest[0] as string, { json: values.json === true });
      case 'reload':
        expectArgs(command, rest, 0);
        return await runReload(config, { json: values.json === true });
      case 'user':
        return await runUserState(config, rest[0], rest.slice(1), { reason: values.reason });
      case 'invite':
        return await runInvite(config, rest[0], rest.slice(1), { host: values.host, expires: values.expires, uses: values.uses, group: values.group, admin: values.admin, inviter: values.inviter, json: values.json });
      case 'cluster':
        return await runCluster(config, rest[0], rest.slice(1), { json: values.json === true });
      case 'reports':
        return await runReports(config, rest[0], rest.slice(1), { host: values.host, confirm: values.confirm, json: values.json, all: values.all });
      case 'token':
        return await runToken(config, rest[0], rest.slice(1), { scope: values.scope, expires: values.expires, name: values.name, json: values.json });
      case 'export':
        expectArgs(command, rest, 0);
        return await runExport(config, { host: values.host, out: values.out });
      case 'import':
        expectArgs(command, rest, 1);
        return await runImport(config, rest[0] as string, { from: values.from, dryRun: values['dry-run'] === true });
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`canto: ${err.message}\n\n${HELP}`);
      return EXIT.usage;
    }
    if (err instanceof CommandFailed) {
      process.stderr.write(`canto: ${err.message}\n`);
      return EXIT.failed;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`canto: configuration error\n${err.message}\n`);
      return EXIT.config;
    }
    // The database is down, refused us or is newer than this Canto: the message says what to
    // do; a stack trace would only hide it.
    if (err instanceof StorageUnavailableError || err instanceof StorageSchemaTooNewError) {
      process.stderr.write(`canto: ${err.cantoCode}: ${err.message}\n`);
      return EXIT.failed;
    }
    process.stderr.write(`canto: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.failed;
  }
}

function expectArgs(command: string, args: string[], n: number): void {
  if (args.length !== n) throw new UsageError(`${command} takes ${n === 0 ? 'no arguments' : n === 1 ? 'one argument' : `${n} arguments`}`);
}

// Run when executed directly (not when imported by tests).
if (process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // Anything still holding the event loop open after a finished command is not worth waiting for.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`canto: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = EXIT.failed;
    },
  );
}
