/**
 * The layering rules of docs/ARCHITECTURE.md, checked on the sources: the core imports no
 * transport, module, app, cluster or CLI code (types included); the cluster layer imports no
 * module, app or CLI code. Import cycles are checked by madge in `npm test` (on the compiled
 * JavaScript, where type-only imports are gone).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier a file imports or re-exports (static or dynamic). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) out.push(m[1] as string);
  return out;
}

function violations(folder: string, forbidden: string[]): string[] {
  const out: string[] = [];
  for (const file of sources(join(ROOT, folder))) {
    for (const spec of importsOf(file)) {
      if (!spec.startsWith('.')) continue;
      const target = relative(ROOT, join(file, '..', spec)).split('/')[0] ?? '';
      if (forbidden.includes(target)) out.push(`${relative(ROOT, file)} imports ${spec}`);
    }
  }
  return out;
}

test('src/core imports nothing from net, modules, app, cluster or cli', () => {
  assert.deepEqual(violations('core', ['net', 'modules', 'app', 'cluster', 'cli', 'testing']), []);
});

test('src/cluster imports no module, app or cli code', () => {
  assert.deepEqual(violations('cluster', ['modules', 'app', 'cli', 'testing']), []);
});

test('the check sees imports (a file that breaks the rule would be found)', () => {
  // The CLI legitimately imports the app and modules: the scanner must report those.
  assert.ok(violations('cli', ['app']).length > 0);
});
