// Property test for the pubsub request parser: any <pubsub/> built from the XEP-0060 vocabulary
// (and some noise) either parses into a request whose required fields are set, or is refused
// with a StanzaError; nothing else is ever thrown. Bounded to a few hundred runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { StanzaError } from '../../src/core/errors.js';
import { Element } from '../../src/xml/element.js';
import { parsePubsubRequest } from '../../src/modules/pubsub/protocol/parse.js';
import { NS_PUBSUB, NS_PUBSUB_OWNER } from '../../src/modules/pubsub/ns.js';

const names = fc.constantFrom(
  'create', 'configure', 'publish', 'publish-options', 'retract', 'items', 'item', 'subscribe', 'unsubscribe', 'options',
  'subscriptions', 'subscription', 'affiliations', 'affiliation', 'default', 'delete', 'purge', 'redirect', 'x', 'field', 'value', 'junk',
);
const attrValue = fc.oneof(fc.constantFrom('', 'n', 'a@b', 'a@b/c', '0', '5', 'max', 'true', '-1', 'submit'), fc.string({ maxLength: 6 }));
const attrs = fc.dictionary(fc.constantFrom('node', 'id', 'jid', 'subid', 'max_items', 'notify', 'subscription', 'affiliation', 'uri', 'type', 'var'), attrValue, { maxKeys: 4 });
const namespace = fc.constantFrom(NS_PUBSUB, NS_PUBSUB_OWNER, 'jabber:x:data', 'urn:other');

interface Tree {
  name: string;
  ns: string;
  attrs: Record<string, string>;
  children: Tree[];
}
// Three levels (pubsub > action > item > payload) cover every request shape.
const leaf: fc.Arbitrary<Tree> = fc.record({ name: names, ns: namespace, attrs, children: fc.constant([]) });
const mid: fc.Arbitrary<Tree> = fc.record({ name: names, ns: namespace, attrs, children: fc.array(leaf, { maxLength: 3 }) });
const tree: fc.Arbitrary<Tree> = fc.record({ name: names, ns: namespace, attrs, children: fc.array(mid, { maxLength: 3 }) });

function build(t: Tree): Element {
  const el = new Element(t.name, { ...t.attrs, xmlns: t.ns });
  for (const c of t.children) el.cnode(build(c));
  return el;
}

test('the pubsub request parser returns a well-formed request or a StanzaError, for any input', () => {
  fc.assert(
    fc.property(fc.constantFrom('get' as const, 'set' as const), fc.boolean(), fc.array(tree, { maxLength: 3 }), (type, owner, children) => {
      const pubsub = new Element('pubsub', { xmlns: owner ? NS_PUBSUB_OWNER : NS_PUBSUB });
      for (const c of children) pubsub.cnode(build(c));
      try {
        const req = parsePubsubRequest(type, pubsub);
        if ('node' in req && req.op !== 'create' && req.op !== 'subscriptions' && req.op !== 'affiliations') {
          assert.ok(typeof req.node === 'string' && req.node !== '', `${req.op} has a node`);
        }
        if (req.op === 'retract') assert.ok(req.ids.length > 0 && req.ids.every((id) => id !== ''));
        if (req.op === 'items' && req.max !== undefined) assert.ok(Number.isInteger(req.max) && req.max >= 1);
      } catch (err) {
        if (!(err instanceof StanzaError)) throw err;
      }
    }),
    { numRuns: 500 },
  );
});
