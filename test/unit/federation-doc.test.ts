/**
 * docs/federation.md's interoperability table stays true: every row names a test file that
 * exists, and every ✔ cell is backed by a test in that file whose title names the column
 * (dialback, EXTERNAL, bidi).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..', '..');
const doc = readFileSync(join(root, 'docs', 'federation.md'), 'utf8');

/** Column → a word a backing test's title must contain (case-insensitive). */
const COLUMNS: Record<string, RegExp> = { dialback: /dialback/i, 'SASL EXTERNAL': /external/i, 'bidi (XEP-0288)': /bidi/i };

function table(): Array<Record<string, string>> {
  const start = doc.indexOf('## Interoperability');
  assert.ok(start >= 0, 'docs/federation.md has an Interoperability section');
  const after = doc.slice(start).split('\n');
  const first = after.findIndex((l) => l.startsWith('|'));
  const end = after.findIndex((l, i) => i > first && !l.startsWith('|'));
  const lines = after.slice(first, end);
  const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
  const [head, , ...rows] = lines;
  assert.ok(head);
  const names = cells(head);
  return rows.map((r) => Object.fromEntries(cells(r).map((c, i) => [names[i] ?? `#${i}`, c])));
}

test('every peer in the interop table has its test file, and every ✔ a test that covers it', () => {
  const rows = table();
  assert.ok(rows.length >= 3, 'Prosody, ejabberd and Canto rows');
  for (const row of rows) {
    const file = /`([^`]+)`/.exec(row['test'] ?? '')?.[1];
    assert.ok(file, `row ${row['peer']} names its test file`);
    const path = join(root, file);
    assert.ok(existsSync(path), `${file} exists`);
    const titles = [...readFileSync(path, 'utf8').matchAll(/\btest\(\s*'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1] ?? '');
    for (const [column, word] of Object.entries(COLUMNS)) {
      const cell = row[column];
      assert.ok(cell !== undefined, `column ${column} present`);
      if (!cell.startsWith('✔')) continue;
      assert.ok(titles.some((t) => word.test(t)), `${row['peer']}: "${column}" is ✔ but no test in ${file} names it (titles: ${titles.join(' | ')})`);
    }
  }
});
