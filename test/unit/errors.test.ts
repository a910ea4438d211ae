import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, StanzaError, stanzaError } from '../../src/core/errors.js';
import { iq } from '../../src/xml/stanza.js';
import { Element } from '../../src/xml/element.js';

test('docs/errors.md lists every code of the table, and no other', () => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'errors.md'), 'utf8');
  const documented = [...doc.matchAll(/`(CANTO_ERR_[A-Z_]+)`/g)].map((m) => m[1]);
  assert.deepEqual([...new Set(documented)].sort(), Object.keys(ERRORS).sort());
});

test('a StanzaError answers the request with its condition, type, text and application condition', () => {
  const req = iq({ type: 'get', id: 'q1', from: 'romeo@localhost/a', to: 'localhost' }).c('query', { xmlns: 'urn:x' }).root();
  const err = stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'no such node', new Element('gone', { xmlns: 'urn:x:errors' }));
  assert.ok(err instanceof StanzaError);
  assert.equal(err.code, 'CANTO_ERR_ITEM_NOT_FOUND');
  const r = err.replyTo(req);
  assert.equal(r.attrs.type, 'error');
  assert.equal(r.attrs.to, 'romeo@localhost/a');
  const e = r.getChild('error');
  assert.equal(e?.attrs.type, 'cancel');
  assert.ok(e?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  assert.equal(e?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), 'no such node');
  assert.ok(e?.getChild('gone', 'urn:x:errors'));
  assert.equal(stanzaError('CANTO_ERR_BAD_REQUEST').message, ERRORS.CANTO_ERR_BAD_REQUEST.text, 'the table text by default');
  const bare = stanzaError('CANTO_ERR_SERVICE_UNAVAILABLE', '').replyTo(req).getChild('error');
  assert.ok(bare?.getChild('service-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  assert.equal(bare?.getChild('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), undefined, "'' gives no <text/>");
});
