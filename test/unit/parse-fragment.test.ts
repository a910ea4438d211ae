import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { message } from '../../src/xml/stanza.js';

test('a serialized stanza parses back to the same element', () => {
  const m = message({ to: 'a@b', type: 'chat', id: 'x' });
  m.c('body').t('1 < 2 & "quotes"');
  m.c('delay', { xmlns: 'urn:xmpp:delay', stamp: '2026-01-01T00:00:00Z' });
  const back = parseXmlFragment(m.toString());
  assert.equal(back.toString(), m.toString());
  assert.equal(back.xmlns, 'jabber:client');
  assert.equal(back.parent, undefined);
  assert.equal(back.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp, '2026-01-01T00:00:00Z');
});

test('unnamespaced elements take the default namespace; bad XML and several elements throw', () => {
  assert.equal(parseXmlFragment('<x/>', { defaultNs: 'vcard-temp' }).xmlns, 'vcard-temp');
  assert.throws(() => parseXmlFragment('<a><b></a>'), /not-well-formed/);
  assert.throws(() => parseXmlFragment('<a/><b/>'), /exactly one/);
  assert.throws(() => parseXmlFragment('text'), /exactly one/);
});

test('an error reply keeps the stanza namespace on its <error/> child', async () => {
  const { errorReply } = await import('../../src/xml/stanza.js');
  const { Element } = await import('../../src/xml/element.js');
  const { serialize } = await import('../../src/xml/element.js');
  const original = new Element('iq', { type: 'get', id: '1', from: 'a.example', to: 'b.example' }, 'jabber:server');
  original.c('query', { xmlns: 'urn:example' });
  const err = errorReply(original, 'service-unavailable');
  assert.equal(err.getChild('error')?.xmlns, 'jabber:server');
  assert.doesNotMatch(serialize(err, 'jabber:server'), /jabber:client/);
});
