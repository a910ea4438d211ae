/**
 * Every protocol a host answers is in its disco#info (issue 12 point 7): with the default module
 * set, each iq payload namespace some module handles at the host must be an advertised feature of
 * the host, and each one handled at an account's bare JID a feature of the host or of the
 * account's own disco#info (XEP-0313: MAM is the account's), except the few that RFCs or the XEPs
 * announce elsewhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../src/testing/index.js';
import { iq } from '../../src/xml/stanza.js';

/** Handled but not disco features, each with why. */
const NOT_DISCO_FEATURES = new Map([
  ['jabber:iq:roster', 'RFC 6121 rosters are core IM; versioning is a stream feature (urn:xmpp:features:rosterver)'],
  ['urn:ietf:params:xml:ns:xmpp-session', 'the legacy session iq (RFC 3921) is announced as a stream feature'],
  ['http://jabber.org/protocol/pubsub#owner', "XEP-0060's owner namespace: the owner use cases are announced as pubsub#<name> features (config-node, purge-nodes, manage-subscriptions …)"],
]);

test('every iq namespace the default modules answer is advertised in disco#info', async () => {
  const h = await startHarness({ builtins: true, listen: true });
  try {
    const handled = new Map<string, 'host' | 'bare'>();
    for (const name of h.context.events.eventNames()) {
      const m = /^iq-(?:get|set)\/(host|bare)\/(.+):[^:]+$/.exec(name);
      if (m?.[2] && handled.get(m[2]) !== 'host') handled.set(m[2], m[1] as 'host' | 'bare');
    }
    assert.ok(handled.size >= 8, `the default modules answer several namespaces (${[...handled.keys()].join(', ')})`);
    const romeo = await h.client('romeo@localhost/x');
    const info = await romeo.ask(iq({ type: 'get', id: 'd1', to: 'romeo@localhost' }).c('query', { xmlns: 'http://jabber.org/protocol/disco#info' }).root());
    const account = new Set(info.getChild('query')?.getChildren('feature').map((f) => f.attrs.var));
    const missing = [...handled]
      .filter(([ns, dest]) => !NOT_DISCO_FEATURES.has(ns) && !h.context.features.includes(ns) && !(dest === 'bare' && account.has(ns)))
      .map(([ns]) => ns);
    assert.deepEqual(missing, [], 'handled namespaces missing from disco#info');
    assert.ok(account.has('urn:xmpp:mam:2'), 'XEP-0313 MAM is advertised on the account');
    assert.ok(h.context.features.includes('jabber:iq:private'), 'XEP-0049 private storage is advertised');
  } finally {
    await h.stop();
  }
});
