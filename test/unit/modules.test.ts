import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { defineModule, resolveLoadOrder, suggestModule, type ModuleDefinition } from '../../src/core/modules.js';
import { duration } from '../../src/core/option-schemas.js';
import { FakeClock, startHarness } from '../../src/testing/index.js';

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
  // The server's clock is a FakeClock: the interval runs when the test advances time, not on its own.
  const clock = new FakeClock();
  const h = await startHarness({ modules: [probe], clock, config: (c) => void (c.modules.probe = { answer: 42 }) });
  const ctx = h.context;
  assert.ok(ctx.features.includes('urn:example:probe'));
  assert.equal(ctx.identities.length, 1);
  ctx.events.fire('host-activated', { host: 'localhost' });
  assert.ok(fired >= 1);
  clock.advance(10);
  assert.equal(ticks, 2, 'the interval ticks on the server clock');
  await h.stop();
  assert.equal(ctx.features.includes('urn:example:probe'), false);
  assert.equal(ctx.identities.length, 0);
  const firedBefore = fired;
  clock.advance(30);
  assert.equal(ticks, 2, 'interval stopped');
  assert.equal(clock.pending, 0, 'no timer left');
  ctx.events.fire('host-activated', { host: 'localhost' });
  assert.equal(fired, firedBefore, 'hook removed');
});

test('requiring a service nobody provides fails the module with CANTO_ERR_SERVICE_MISSING', async () => {
  const needy = defineModule({
    name: 'needy',
    setup(mod) {
      mod.require('disco');
    },
  });
  await assert.rejects(startHarness({ modules: [needy] }), (err: unknown) => {
    assert.equal((err as { code?: string }).code, 'CANTO_ERR_SERVICE_MISSING');
    assert.match(String(err), /service "disco" is not provided/);
    return true;
  });
});
