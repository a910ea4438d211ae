/** Property test of the MAM query parser: random forms and RSM sets never throw; each gives an error or a valid query. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Element } from '../../src/xml/element.js';
import { parseMamQuery, NS_MAM } from '../../src/modules/mam/query.js';

const LIMITS = { defaultMax: 100, maxMax: 250 };
const FIELDS = ['FORM_TYPE', 'with', 'start', 'end', 'before-id', 'after-id', 'ids', 'colour', ''];
const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('', '0', '5', '250', '251', '-1', '1e3', '99999999999999999999', ' 7', 'urn:xmpp:mam:2', 'romeo@localhost', 'a@@b', '2024-01-01T00:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T00:00:00.5+02:00'),
);
const field = fc.record({ var: fc.option(fc.constantFrom(...FIELDS), { nil: undefined }), values: fc.array(text, { maxLength: 3 }) });
const rsmChild = fc.record({ name: fc.constantFrom('max', 'after', 'before', 'index', 'first', 'count'), text });
const queryArb = fc.record({
  formType: fc.option(fc.constantFrom('submit', 'form', 'result', 'cancel'), { nil: undefined }),
  forms: fc.integer({ min: 0, max: 2 }),
  fields: fc.array(field, { maxLength: 6 }),
  sets: fc.integer({ min: 0, max: 2 }),
  rsm: fc.array(rsmChild, { maxLength: 4 }),
  flip: fc.boolean(),
  queryid: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
});

type QuerySpec = typeof queryArb extends fc.Arbitrary<infer T> ? T : never;

function build(spec: QuerySpec): Element {
  const q = new Element('query', { xmlns: NS_MAM, queryid: spec.queryid });
  for (let f = 0; f < spec.forms; f++) {
    const x = q.c('x', { xmlns: 'jabber:x:data', type: spec.formType });
    for (const fl of spec.fields) {
      const el = x.c('field', { var: fl.var });
      for (const v of fl.values) el.c('value').t(v);
    }
  }
  for (let s = 0; s < spec.sets; s++) {
    const set = q.c('set', { xmlns: 'http://jabber.org/protocol/rsm' });
    for (const c of spec.rsm) set.c(c.name).t(c.text);
  }
  if (spec.flip) q.c('flip-page');
  return q;
}

test('parseMamQuery never throws and returns an error or a query within the limits', () => {
  fc.assert(
    fc.property(queryArb, (spec) => {
      const r = parseMamQuery(build(spec), LIMITS);
      if (!r.ok) {
        assert.ok(['bad-request', 'feature-not-implemented'].includes(r.error.condition));
        assert.ok(r.error.text.length > 0);
        return;
      }
      const q = r.query;
      assert.ok(Number.isInteger(q.max) && q.max >= 0 && q.max <= LIMITS.maxMax, `max ${q.max}`);
      for (const t of [q.start, q.end]) assert.ok(t === undefined || Number.isFinite(t));
      assert.ok(q.after === undefined || q.after.length > 0);
      assert.ok(q.before === undefined || q.before === true || q.before.length > 0);
      assert.equal(q.flip, spec.flip);
      assert.equal(q.queryid, spec.queryid);
      assert.ok(spec.forms <= 1 && spec.sets <= 1, 'two forms or two sets are refused');
    }),
    { numRuns: 2000 },
  );
});

test('parseMamQuery: examples', () => {
  const ok = parseMamQuery(new Element('query', { xmlns: NS_MAM }), LIMITS);
  assert.deepEqual(ok, { ok: true, query: { max: 100, flip: false } });
  const q = new Element('query', { xmlns: NS_MAM });
  q.c('set', { xmlns: 'http://jabber.org/protocol/rsm' }).c('max').t('1000');
  assert.equal((parseMamQuery(q, LIMITS) as { ok: true; query: { max: number } }).query.max, 250);
});
