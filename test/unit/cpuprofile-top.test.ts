/**
 * bench/tools/cpuprofile-top.ts on a handmade V8 profile: self and total time per function,
 * idle excluded, recursion counted once, aggregation across files, the table, and locations
 * mapped back through a source map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { profileFiles, repoLocator, stackShare, summarize, topTable, type CpuProfile, type Locate } from '../../bench/tools/cpuprofile-top.js';

const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber, columnNumber: 0 });

/**
 * (root) ─┬─ (program)
 *         ├─ (idle)
 *         └─ main (a.js:10) ── helper (b.js:1) ── main (a.js:10, recursion) ── writev (native)
 */
function handmade(): CpuProfile {
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3, 4] },
      { id: 2, callFrame: frame('(program)') },
      { id: 3, callFrame: frame('(idle)') },
      { id: 4, callFrame: frame('main', 'file:///repo/dist-x/src/a.js', 9), children: [5] },
      { id: 5, callFrame: frame('helper', 'file:///repo/dist-x/src/b.js', 0), children: [6] },
      { id: 6, callFrame: frame('main', 'file:///repo/dist-x/src/a.js', 9), children: [7] },
      { id: 7, callFrame: frame('writev') },
    ],
    startTime: 0,
    // Sample i lasts until sample i+1; the last one until endTime.
    samples: [4, 5, 7, 3, 2, 6],
    timeDeltas: [0, 100, 200, 300, 400, 500],
    endTime: 1500 + 600,
  };
}

// Times of the samples above: main 100, helper 200, writev 300, idle 400, program 500, main (inner) 600.
const plainLocate: Locate = (url, line) => `${url.replace('file:///repo/dist-x/', '')}:${line + 1}`;

test('self time goes to the innermost frame, total time to every function on the stack once', () => {
  const s = summarize([handmade()], plainLocate);
  assert.equal(s.busyMicros, 100 + 200 + 300 + 500 + 600); // idle left out
  const byName = new Map(s.functions.map((f) => [f.name, f]));
  assert.deepEqual(byName.get('main'), { name: 'main', location: 'src/a.js:10', selfMicros: 100 + 600, totalMicros: 100 + 200 + 300 + 600 });
  assert.deepEqual(byName.get('helper'), { name: 'helper', location: 'src/b.js:1', selfMicros: 200, totalMicros: 200 + 300 + 600 });
  assert.deepEqual(byName.get('writev'), { name: 'writev', location: '', selfMicros: 300, totalMicros: 300 });
  assert.equal(byName.get('(program)')?.selfMicros, 500);
  assert.equal(byName.has('(idle)'), false);
  assert.equal(byName.has('(root)'), false);
  assert.deepEqual(
    s.functions.map((f) => f.name),
    ['main', '(program)', 'writev', 'helper'],
  );
});

test('idle can be included, and the same function adds up across profiles', () => {
  const withIdle = summarize([handmade()], plainLocate, { includeIdle: true });
  assert.equal(withIdle.busyMicros, 2100);
  assert.equal(withIdle.functions.find((f) => f.name === '(idle)')?.selfMicros, 400);
  const two = summarize([handmade(), handmade()], plainLocate);
  assert.equal(two.profiles, 2);
  assert.equal(two.busyMicros, 2 * 1700);
  assert.equal(two.functions.find((f) => f.name === 'main')?.selfMicros, 1400);
  assert.equal(two.functions.filter((f) => f.name === 'main').length, 1);
});

test('the table lists the top functions with self (and total) shares of busy time', () => {
  const s = summarize([handmade()], plainLocate);
  const lines = topTable(s, { top: 2, total: true }).split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^\| function +\| location +\| +self \| +total \|$/);
  assert.match(lines[1]!, /^\| -+ \| -+ \| -+: \| -+: \|$/);
  // main: self 700 / 1700 = 41.2 %, total 1200 / 1700 = 70.6 %.
  assert.match(lines[2]!, /^\| `main` +\| `src\/a\.js:10` \| 41\.2 % \| 70\.6 % \|$/);
  assert.match(lines[3]!, /^\| `\(program\)` +\| +\| 29\.4 % \| 29\.4 % \|$/);
  const matched = topTable(s, { match: /helper/ }).split('\n');
  assert.equal(matched.length, 3);
  assert.match(matched[2]!, /`helper`.*11\.8 %/);
});

test('stackShare counts each sample with a matching frame anywhere on its stack once', () => {
  // helper is on the stack of the helper (200), writev (300) and inner main (600) samples.
  assert.deepEqual(stackShare([handmade()], plainLocate, /b\.js/), { micros: 1100, busyMicros: 1700 });
  // main matches twice on the inner main sample's stack, counted once: 100 + 200 + 300 + 600.
  assert.deepEqual(stackShare([handmade()], plainLocate, /^main$/), { micros: 1200, busyMicros: 1700 });
  assert.deepEqual(stackShare([handmade(), handmade()], plainLocate, /^writev$/), { micros: 600, busyMicros: 3400 });
  assert.equal(stackShare([handmade()], plainLocate, /idle/, { includeIdle: true }).micros, 400);
});

test('repoLocator shows repo-relative TypeScript locations through source maps, node: URLs as they are', () => {
  const root = mkdtempSync(join(tmpdir(), 'cpuprofile-top-'));
  try {
    mkdirSync(join(root, 'dist-x', 'src'), { recursive: true });
    const mapped = join(root, 'dist-x', 'src', 'a.js');
    writeFileSync(mapped, 'line0\nline1\nline2\n');
    // Generated lines 0, 1, 2 → original lines 0, 1, 3 of src/a.ts.
    writeFileSync(`${mapped}.map`, JSON.stringify({ version: 3, file: 'a.js', sourceRoot: '', sources: ['../../src/a.ts'], names: [], mappings: 'AAAA;AACA;AAEA' }));
    const unmapped = join(root, 'dist-x', 'src', 'b.js');
    writeFileSync(unmapped, 'x\n');
    const locate = repoLocator(root);
    assert.equal(locate(pathToFileURL(mapped).href, 2, 4), 'src/a.ts:4');
    assert.equal(locate(pathToFileURL(unmapped).href, 0, 0), 'src/b.js:1');
    assert.equal(locate('node:internal/tls/wrap', 299, 3), 'node:internal/tls/wrap:300');
    assert.equal(locate('file:///elsewhere/c.js', 4, 0), '/elsewhere/c.js:5');

    const dir = join(root, 'profiles');
    mkdirSync(dir);
    writeFileSync(join(dir, 'b.cpuprofile'), '{}');
    writeFileSync(join(dir, 'a.cpuprofile'), '{}');
    writeFileSync(join(dir, 'notes.txt'), '');
    assert.deepEqual(profileFiles([dir]), [join(dir, 'a.cpuprofile'), join(dir, 'b.cpuprofile')]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
