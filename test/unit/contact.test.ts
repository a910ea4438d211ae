/** XEP-0157 contact module: the serverinfo form in the server's disco#info. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import contact, { contactForm, SERVERINFO_FORM_TYPE } from '../../src/modules/contact/index.js';
import disco, { NS_DISCO_INFO } from '../../src/modules/disco/index.js';
import { iq } from '../../src/xml/stanza.js';
import type { Element } from '../../src/xml/element.js';
import { startHarness } from '../../src/testing/index.js';

const HOST = 'localhost';

const fields = (form: Element | undefined) =>
  Object.fromEntries((form?.getChildren('field') ?? []).map((f) => [f.attrs.var, f.getChildren('value').map((v) => v.getText())]));

test('contactForm lists only configured kinds, after the FORM_TYPE', () => {
  assert.equal(contactForm({}), undefined);
  assert.equal(contactForm({ abuse: [] }), undefined);
  const form = contactForm({ support: ['https://example.com/help'], abuse: ['mailto:abuse@example.com', 'xmpp:abuse@example.com'] });
  assert.equal(form?.attrs.type, 'result');
  assert.equal(form?.xmlns, 'jabber:x:data');
  assert.deepEqual(fields(form), {
    FORM_TYPE: [SERVERINFO_FORM_TYPE],
    'abuse-addresses': ['mailto:abuse@example.com', 'xmpp:abuse@example.com'],
    'support-addresses': ['https://example.com/help'],
  });
  assert.equal(form?.getChildren('field')[0]?.attrs.type, 'hidden');
});

test('the configured addresses appear in the host disco#info', async () => {
  const h = await startHarness({ modules: [disco, contact], config: (c) => {
    c.modules.contact = { admin: ['xmpp:admin@localhost'], security: ['mailto:security@example.com'] };
  } });
  try {
    const c = await h.client('romeo@localhost');
    const r = await c.ask(iq({ type: 'get', id: 'c1', to: HOST }).c('query', { xmlns: NS_DISCO_INFO }).up());
    const form = r.getChild('query', NS_DISCO_INFO)?.getChild('x', 'jabber:x:data');
    assert.deepEqual(fields(form), {
      FORM_TYPE: [SERVERINFO_FORM_TYPE],
      'admin-addresses': ['xmpp:admin@localhost'],
      'security-addresses': ['mailto:security@example.com'],
    });
  } finally {
    await h.stop();
  }
});

test('no addresses, no form', async () => {
  const h = await startHarness({ modules: [disco, contact] });
  try {
    assert.equal(h.context.discoExtensions.length, 0);
  } finally {
    await h.stop();
  }
});

test('an address that is not a URI is a config error naming the key', async () => {
  await assert.rejects(
    startHarness({ modules: [disco, contact], config: (c) => {
      c.modules.contact = { abuse: ['abuse@example.com'] };
    } }),
    /modules\.contact\.abuse\[0\]: expected a URI such as "mailto:abuse@example\.com".*, got "abuse@example\.com"/,
  );
  await assert.rejects(
    startHarness({ modules: [disco, contact], config: (c) => {
      c.modules.contact = { abuse: 'mailto:a@example.com' };
    } }),
    /modules\.contact\.abuse: expected an array, got "mailto:a@example\.com"/,
  );
});
