/**
 * The runtime settings Canto is measured with (docs/configuration.md, "Node.js runtime flags and
 * memory allocator") are chosen by one launcher, bin/canto, which `canto`, `npm start` and the
 * bench's Canto server all run. These tests start the real launcher with a probe module that
 * prints what node was given and exits before the server starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CANTO_GLIBC_TUNABLES } from '../../bench/servers/canto.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const launcher = `${root}bin/canto`;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

interface Probe { preload?: string; mallocConf?: string; tunables?: string; inUse?: string; flags: string[] }
const probe = `process.stdout.write(JSON.stringify({ preload: process.env.LD_PRELOAD, mallocConf: process.env.MALLOC_CONF, tunables: process.env.GLIBC_TUNABLES, inUse: process.env.CANTO_ALLOCATOR_IN_USE, flags: process.execArgv })); process.exit(0);`;

function launch(env: Record<string, string>): { status: number | null; stderr: string; probe?: Probe } {
  const r = spawnSync('/bin/sh', [launcher, '--version'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', CANTO_NODE_ARGS: `--import=data:text/javascript,${encodeURIComponent(probe)}`, ...env },
  });
  return { status: r.status, stderr: r.stderr, probe: r.status === 0 ? (JSON.parse(r.stdout) as Probe) : undefined };
}

test('canto and npm start both go through the launcher', () => {
  assert.equal(pkg.bin.canto, 'bin/canto');
  assert.match(pkg.scripts.start!, /(^|&& )sh bin\/canto start$/);
});

test('on glibc: the mmap threshold tunable and the young-generation size', () => {
  const r = launch({ CANTO_ALLOCATOR: 'glibc' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.probe?.tunables, CANTO_GLIBC_TUNABLES);
  assert.equal(r.probe?.inUse, 'glibc');
  assert.equal(r.probe?.preload, undefined);
  assert.ok(r.probe?.flags.includes('--max-semi-space-size=2'), r.probe?.flags.join(' '));
  // An operator's own tunables are kept.
  assert.equal(launch({ CANTO_ALLOCATOR: 'glibc', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).probe?.tunables, 'glibc.malloc.arena_max=2');
});

test('auto: jemalloc preloaded when the system has it, with a purging background thread', () => {
  // CI installs libjemalloc2 (scripts/install-test-deps.sh); without it this must fail, not skip.
  assert.ok(existsSync(JEMALLOC), `${JEMALLOC} missing: run scripts/install-test-deps.sh`);
  const r = launch({});
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.probe?.preload, JEMALLOC);
  assert.equal(r.probe?.mallocConf, 'background_thread:true');
  assert.equal(r.probe?.inUse, 'jemalloc');
  assert.equal(r.probe?.tunables, undefined);
  assert.ok(r.probe?.flags.includes('--max-semi-space-size=2'));
});

test('auto without jemalloc falls back to glibc with the tunable; forcing a missing jemalloc is an error', () => {
  const fallback = launch({ CANTO_JEMALLOC: '/nonexistent/libjemalloc.so.2' });
  assert.equal(fallback.status, 0, fallback.stderr);
  assert.equal(fallback.probe?.inUse, 'glibc');
  assert.equal(fallback.probe?.tunables, CANTO_GLIBC_TUNABLES);
  assert.equal(fallback.probe?.preload, undefined);

  const forced = launch({ CANTO_ALLOCATOR: 'jemalloc', CANTO_JEMALLOC: '/nonexistent/libjemalloc.so.2' });
  assert.equal(forced.status, 78);
  assert.match(forced.stderr, /no libjemalloc\.so\.2 was found/);
});

test('system: neither a preload nor a tunable; an unknown choice is refused', () => {
  const r = launch({ CANTO_ALLOCATOR: 'system' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.probe?.inUse, 'system');
  assert.equal(r.probe?.preload, undefined);
  assert.equal(r.probe?.tunables, undefined);
  const bad = launch({ CANTO_ALLOCATOR: 'tcmalloc' });
  assert.equal(bad.status, 78);
  assert.match(bad.stderr, /must be auto, jemalloc, glibc or system/);
});
