/**
 * The runtime settings Canto is measured with (docs/configuration.md, "Node.js runtime flags")
 * are set in three places: the `canto` shebang, `npm start` and the bench's Canto server. They
 * must agree, and the shebang must really start node with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CANTO_GLIBC_TUNABLES } from '../../bench/servers/canto.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const shebang = readFileSync(`${root}src/cli/main.ts`, 'utf8').split('\n')[0]!;
const startScript = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts.start!;

test('the shebang, npm start and the bench set the same malloc tunable and young-generation size', () => {
  assert.match(shebang, /^#!\/usr\/bin\/env -S /);
  for (const where of [shebang, startScript]) {
    assert.ok(where.includes(`GLIBC_TUNABLES=${CANTO_GLIBC_TUNABLES} `), where);
    assert.ok(where.includes('--max-semi-space-size=2'), where);
  }
});

test('the shebang starts node with the tunable in its environment and the flag applied', () => {
  const args = shebang.slice('#!/usr/bin/env -S '.length);
  const probe = "process.stdout.write(JSON.stringify({ t: process.env.GLIBC_TUNABLES, flags: process.execArgv }))";
  const out = JSON.parse(execFileSync('/usr/bin/env', ['-S', `${args} -e ${JSON.stringify(probe)}`], { encoding: 'utf8', env: { PATH: process.env.PATH } })) as { t: string; flags: string[] };
  assert.equal(out.t, CANTO_GLIBC_TUNABLES);
  assert.ok(out.flags.includes('--max-semi-space-size=2'), out.flags.join(' '));
});
