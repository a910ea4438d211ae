import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { defineModule, resolveLoadOrder, suggestModule, type ModuleDefinition } from '../../src/core/modules.js';
import { duration } from '../../src/core/option-schemas.js';
import { startTestServer } from '../helpers/server.js';
import { waitFor } from '../../src/testing/index.js';
import { builtinModules } from '../../src/modules/index.js';

const noop = () => {};
const reg = (defs: ModuleDefinition[]) => new Map(defs.map((d) => [d.name, d]));

test('dependencies load first, each once', () => {
  const r = reg([
    defineModule({ name: 'a', depends: ['b', 'c'], setup: noop }),
    defineModule({ name: 'b', depends: ['c'], setup: noop }),
    defineModule({ name: 'c', setup: noop }),
    defineModule({ name: 'g', scope: 'global', setup: noop }),
  ]);
  assert.deepEqual(resolveLoadOrder(['a', 'c', 'g'], r, 'host').order.map((d) => d.name), ['c', 'b', 'a']);
  assert.deepEqual(resolveLoadOrder(['a', 'g'], r, 'global').order.map((d) => d.name), ['g']);
});

test('unknown configured names are reported, unknown dependencies and cycles throw', () => {
  const r = reg([
    defineModule({ name: 'a', depends: ['b'], setup: noop }),
    defineModule({ name: 'b', depends: ['a'], setup: noop }),
    defineModule({ name: 'x', depends: ['missing'], setup: noop }),
  ]);
  assert.throws(() => resolveLoadOrder(['a'], r, 'host'), /cycle: a → b → a/);
  assert.throws(() => resolveLoadOrder(['x'], r, 'host'), /unknown module "missing" \(needed by x\)/);
  assert.deepEqual(resolveLoadOrder(['nope'], r, 'host'), { order: [], unknown: ['nope'] });
  assert.equal(suggestModule('pign', new Map([['ping', r.get('a') as ModuleDefinition]])), 'ping');
});

test('a module sees its host, its options, and is fully cleaned up on unload', async () => {
  let fired = 0;
  let ticks = 0;
  const probe = defineModule({
    name: 'probe',
    options: z.object({ answer: z.number().default(0), every: duration('1 minute') }),
    setup(mod) {
      assert.equal(mod.host, 'localhost');
      assert.equal(mod.options.answer, 42); // from the table
      assert.equal(mod.options.every, 60_000); // the schema's default
      mod.hook('host-activated', () => void fired++);
      mod.addFeature('urn:example:probe');
      mod.addIdentity({ category: 'test', type: 'probe' });
      mod.setInterval(() => void ticks++, 5);
    },
  });
  const modules = new Map(builtinModules);
  modules.set('probe', probe);
  const ts = await startTestServer(
    (c) => {
      c.modules_enabled = ['probe'];
      c.modules.probe = { answer: 42 };
    },
    { modules },
  );
  const s = ts.server;
  const ctx = s.hosts.get('localhost');
  assert.ok(ctx);
  assert.ok(ctx.features.includes('urn:example:probe'));
  assert.equal(ctx.identities.length, 1);
  ctx.events.fire('host-activated', { host: 'localhost' });
  assert.ok(fired >= 1);
  await waitFor(() => ticks >= 2, { message: 'the interval ticks' });
  await ts.stop();
  assert.equal(ctx.features.includes('urn:example:probe'), false);
  assert.equal(ctx.identities.length, 0);
  const before = ticks;
  const firedBefore = fired;
  // A sleep is the point here: real time must pass (6 periods) to show the interval stopped.
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(ticks, before, 'interval stopped');
  ctx.events.fire('host-activated', { host: 'localhost' });
  assert.equal(fired, firedBefore, 'hook removed');
});
