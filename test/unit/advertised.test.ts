/**
 * Every protocol a host answers is in its disco#info (issue 12 point 7): with the default module
 * set, each iq payload namespace some module handles at the host or at an account's bare JID must
 * be an advertised feature, except the few that RFCs or the XEPs announce elsewhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../src/testing/index.js';

/** Handled but not disco features, each with why. */
const NOT_DISCO_FEATURES = new Map([
  ['jabber:iq:roster', 'RFC 6121 rosters are core IM; versioning is a stream feature (urn:xmpp:features:rosterver)'],
  ['urn:ietf:params:xml:ns:xmpp-session', 'the legacy session iq (RFC 3921) is announced as a stream feature'],
]);

test('every iq namespace the default modules answer is advertised in disco#info', async () => {
  const h = await startHarness({ builtins: true, listen: true });
  try {
    const handled = new Set<string>();
    for (const name of h.context.events.eventNames()) {
      const m = /^iq-(?:get|set)\/(?:host|bare)\/(.+):[^:]+$/.exec(name);
      if (m?.[1]) handled.add(m[1]);
    }
    assert.ok(handled.size >= 8, `the default modules answer several namespaces (${[...handled].join(', ')})`);
    const missing = [...handled].filter((ns) => !NOT_DISCO_FEATURES.has(ns) && !h.context.features.includes(ns));
    assert.deepEqual(missing, [], 'handled namespaces missing from disco#info');
    assert.ok(h.context.features.includes('jabber:iq:private'), 'XEP-0049 private storage is advertised');
  } finally {
    await h.stop();
  }
});
