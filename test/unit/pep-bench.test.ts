/**
 * The pep benchmark's client side (bench/scenarios/pep.ts): the caps its contacts announce must
 * be the XEP-0115 §5 hash of exactly what they answer to disco#info, or a server that verifies
 * (Canto) would not trust them and one that does not (Prosody) would ask every contact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { computeVer, parseDiscoInfo, verify } from '../../src/modules/caps/verification.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { attrOf, BENCH_CAPS_NODE, BENCH_CAPS_VER, CAPS_PRESENCE, iqAnswer, PEP_NODE } from '../../bench/scenarios/pep.js';

test('the ver computation gives the XEP-0115 §5.2 example', () => {
  const info = {
    identities: [{ category: 'client', type: 'pc', lang: '', name: 'Exodus 0.9.1' }],
    features: ['http://jabber.org/protocol/disco#info', 'http://jabber.org/protocol/disco#items', 'http://jabber.org/protocol/muc', 'http://jabber.org/protocol/caps'],
    forms: [],
  };
  assert.equal(computeVer(info, 'sha-1'), 'QgayPKawpkPSDYmwT/WM94uAlu0=');
});

test("the contacts' ver is the hash of their disco#info answer, which offers the node's +notify", () => {
  // S written out by hand (§5.1: identity, then the features in i;octet order, each ended by '<').
  const s = 'client/pc//Canto bench<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/tune<http://jabber.org/protocol/tune+notify<';
  assert.equal(BENCH_CAPS_VER, createHash('sha1').update(s).digest('base64'));
  assert.equal(attrOf(CAPS_PRESENCE.slice(CAPS_PRESENCE.indexOf('<c ')), 'ver'), BENCH_CAPS_VER);

  const asked = `<iq type="get" id="disco" from="u0@localhost" to="u1@localhost/bench"><query xmlns='http://jabber.org/protocol/disco#info' node='${BENCH_CAPS_NODE}#${BENCH_CAPS_VER}'/></iq>`;
  const answer = iqAnswer(asked)!;
  const iq = parseXmlFragment(answer, { defaultNs: 'jabber:client' });
  assert.equal(iq.attrs.type, 'result');
  assert.equal(iq.attrs.id, 'disco');
  assert.equal(iq.attrs.to, 'u0@localhost');
  const query = iq.getChild('query', 'http://jabber.org/protocol/disco#info')!;
  assert.equal(query.attrs.node, `${BENCH_CAPS_NODE}#${BENCH_CAPS_VER}`);
  const info = parseDiscoInfo(query);
  assert.deepEqual(verify(info, 'sha-1', BENCH_CAPS_VER), { ok: true });
  assert.ok(info.features.includes(`${PEP_NODE}+notify`));
});

test('bench clients refuse other requests, ignore results, and keep odd attribute values intact', () => {
  const ping = iqAnswer(`<iq from='localhost' id='a"b' type='get'><ping xmlns='urn:xmpp:ping'/></iq>`)!;
  const iq = parseXmlFragment(ping, { defaultNs: 'jabber:client' });
  assert.equal(iq.attrs.type, 'error');
  assert.equal(iq.attrs.id, 'a"b');
  assert.ok(iq.getChild('error')?.getChild('service-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  assert.equal(iqAnswer(`<iq type='result' id='x'/>`), undefined);
  assert.equal(iqAnswer(`<iq type="error" id="x"><error type='cancel'/></iq>`), undefined);
});
