/** s2s pieces without sockets: SRV ordering and target resolution, dialback keys, the auth policy. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import type { SrvRecord } from 'node:dns';
import { orderSrv, parseHostPort, resolveTargets, type SrvResolver } from '../../src/modules/s2s/resolve.js';
import { dialbackKey, dialbackWire, keyMatches, answer, resultRequest } from '../../src/modules/s2s/dialback.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { S2SSecurity } from '../../src/modules/s2s/security.js';
import { defaultConfig } from '../../src/app/config.js';
import type { TlsContexts } from '../../src/net/tls.js';

const rec = (name: string, priority: number, weight: number, port = 5269): SrvRecord => ({ name, priority, weight, port });

test('SRV records are tried by ascending priority, weight deciding within a priority', () => {
  const records = [rec('c', 20, 0), rec('a1', 10, 60), rec('a2', 10, 40), rec('d', 30, 5)];
  // random() = 0 picks the first eligible record of the running sum; 0.99 the last.
  assert.deepEqual(orderSrv(records, () => 0).map((r) => r.name), ['a1', 'a2', 'c', 'd']);
  assert.deepEqual(orderSrv(records, () => 0.99).map((r) => r.name), ['a2', 'a1', 'c', 'd']);
  // Over many draws the heavier record comes first more often.
  let heavyFirst = 0;
  for (let i = 0; i < 2000; i++) if (orderSrv(records)[0]?.name === 'a1') heavyFirst++;
  assert.ok(heavyFirst > 1000 && heavyFirst < 1400, `a1 first ${heavyFirst} times out of 2000`);
});

function fakeResolver(answers: Record<string, SrvRecord[]>): SrvResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    resolveSrv(name: string) {
      asked.push(name);
      const a = answers[name];
      return a ? Promise.resolve(a) : Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
    },
  };
}

test('targets: direct TLS SRV first, then STARTTLS SRV; fallback to the domain on 5269; "." means none', async () => {
  const both = fakeResolver({
    '_xmpps-server._tcp.example.net': [rec('tls.example.net', 5, 1, 5270)],
    '_xmpp-server._tcp.example.net': [rec('x2.example.net', 20, 1), rec('x1.example.net', 10, 1)],
  });
  assert.deepEqual(await resolveTargets('example.net', {}, both), [
    { host: 'tls.example.net', port: 5270, directTls: true },
    { host: 'x1.example.net', port: 5269, directTls: false },
    { host: 'x2.example.net', port: 5269, directTls: false },
  ]);
  assert.deepEqual(await resolveTargets('plain.example', {}, fakeResolver({})), [{ host: 'plain.example', port: 5269, directTls: false }]);
  const refused = fakeResolver({ '_xmpp-server._tcp.no.example': [rec('.', 0, 0, 0)] });
  assert.deepEqual(await resolveTargets('no.example', {}, refused), []);
});

test('[s2s.hosts] overrides skip DNS, IPv6 included', async () => {
  const r = fakeResolver({});
  assert.deepEqual(await resolveTargets('B.Test', { 'b.test': '127.0.0.1:5999' }, r), [{ host: '127.0.0.1', port: 5999, directTls: false }]);
  assert.deepEqual(r.asked, []);
  assert.deepEqual(parseHostPort('[2001:db8::1]:5269'), { host: '2001:db8::1', port: 5269, directTls: false });
  assert.throws(() => parseHostPort('nohost'));
});

test('dialback keys follow XEP-0185 and are checked exactly', () => {
  const expected = createHmac('sha256', createHash('sha256').update('s3cr3t').digest('hex')).update('example.net example.com D60000229F').digest('hex');
  assert.equal(dialbackKey('s3cr3t', 'example.net', 'example.com', 'D60000229F'), expected);
  assert.match(expected, /^[0-9a-f]{64}$/);
  assert.ok(keyMatches('s3cr3t', 'example.net', 'example.com', 'D60000229F', expected));
  assert.ok(!keyMatches('s3cr3t', 'example.net', 'example.com', 'D60000229G', expected), 'another stream id');
  assert.ok(!keyMatches('other', 'example.net', 'example.com', 'D60000229F', expected), 'another secret');
  assert.ok(!keyMatches('s3cr3t', 'example.net', 'example.com', 'D60000229F', 'short'));
});

test('dialback error answers carry a stanza error', () => {
  const el = answer('result', { from: 'b.test', to: 'a.test' }, 'error', 'policy-violation', 'certificates only');
  assert.equal(el.toString().includes('type="error"'), true);
  assert.ok(el.getChild('error')?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
});

test('dialback elements go on the wire with the db: prefix (ejabberd knows them only by it), errors in jabber:server', () => {
  assert.equal(dialbackWire(resultRequest('a.test', 'b.test', 'k<1')), '<db:result from="a.test" to="b.test">k&lt;1</db:result>');
  const wire = dialbackWire(answer('verify', { from: 'b.test', to: 'a.test', id: 'i1' }, 'error', 'item-not-found', 'no such host'));
  assert.equal(
    wire,
    '<db:verify from="b.test" to="a.test" id="i1" type="error"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>' +
      '<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">no such host</text></error></db:verify>',
  );
  // Read back inside a server stream's scope, it is the same element.
  const parsed = parseXmlFragment(`<wrap xmlns='jabber:server' xmlns:db='jabber:server:dialback'>${wire}</wrap>`).elements[0];
  assert.ok(parsed?.is('verify', 'jabber:server:dialback'));
  if (!parsed) return;
  assert.equal(parsed.getChild('error')?.xmlns, 'jabber:server');
  assert.ok(parsed.getChild('error')?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
});

test('secure_auth, secure_domains and insecure_domains decide where certificates are required', () => {
  const cfg = defaultConfig().s2s;
  const tls = {} as TlsContexts; // not used by the policy
  const open = new S2SSecurity({ ...cfg, secure_domains: ['bank.example'] }, tls);
  assert.equal(open.requiresCertificate('chat.example'), false);
  assert.equal(open.requiresCertificate('Bank.Example'), true);
  const strict = new S2SSecurity({ ...cfg, secure_auth: true, insecure_domains: ['legacy.example'] }, tls);
  assert.equal(strict.requiresCertificate('chat.example'), true);
  assert.equal(strict.requiresCertificate('legacy.example'), false);
});
