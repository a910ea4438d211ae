/**
 * XEP-0115 §5: the verification string and its hash, with the XEP's own examples (§5.2 simple,
 * §5.3 complex), and the §5.4 checks (duplicates make a result untrustworthy; forms without a
 * hidden FORM_TYPE are left out).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import {
  computeVer, illFormed, isSupportedHash, octetCompare, parseDiscoInfo, verificationString, verify,
} from '../../src/modules/caps/verification.js';

const DISCO = 'http://jabber.org/protocol/disco#info';

function query(body: string): ReturnType<typeof parseDiscoInfo> {
  return parseDiscoInfo(parseXmlFragment(`<query xmlns='${DISCO}'>${body}</query>`));
}

const SIMPLE = `
  <identity category='client' type='pc' name='Exodus 0.9.1'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>`;

// §5.3, as the XEP's example gives it (the identities and features out of order on purpose).
const COMPLEX = `
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version'><value>ipv6</value><value>ipv4</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>`;

test('§5.2 simple generation example: S and ver QgayPKawpkPSDYmwT/WM94uAlu0=', () => {
  const info = query(SIMPLE);
  assert.equal(
    verificationString(info),
    'client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<',
  );
  assert.equal(computeVer(info, 'sha-1'), 'QgayPKawpkPSDYmwT/WM94uAlu0=');
  assert.deepEqual(verify(info, 'sha-1', 'QgayPKawpkPSDYmwT/WM94uAlu0='), { ok: true });
});

test('§5.3 complex generation example: identities by lang, a XEP-0128 form, ver q07IKJEyjvHSyhy//CH0CxmKi8w=', () => {
  const info = query(COMPLEX);
  assert.equal(
    verificationString(info),
    'client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<'
      + 'http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<'
      + 'ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<',
  );
  assert.equal(computeVer(info, 'sha-1'), 'q07IKJEyjvHSyhy//CH0CxmKi8w=');
});

test('other IANA hash names hash the same string; md5 and unknown names are not supported', () => {
  const info = query(SIMPLE);
  // Independent check of sha-256 over the §5.2 string with node's crypto.
  const s = verificationString(info);
  const expected = createHash('sha256').update(s).digest('base64');
  assert.equal(computeVer(info, 'sha-256'), expected);
  assert.equal(computeVer(info, 'sha-512').length, 88);
  for (const name of ['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']) assert.ok(isSupportedHash(name), name);
  for (const name of ['md5', 'md2', 'SHA-1', 'sha1', 'bogus']) assert.equal(isSupportedHash(name), false, name);
  assert.throws(() => computeVer(info, 'md5'), /unsupported caps hash/);
});

test('a lying ver is a mismatch, not verified', () => {
  const info = query(SIMPLE);
  const verdict = verify(info, 'sha-1', 'q07IKJEyjvHSyhy//CH0CxmKi8w=');
  assert.equal(verdict.ok, false);
  assert.equal(verdict.ok === false && verdict.reason, 'mismatch');
});

test('§5.4: duplicate identities, features or FORM_TYPEs make the result ill-formed', () => {
  const dupIdentity = query(`${SIMPLE}<identity category='client' type='pc' name='Exodus 0.9.1'/>`);
  assert.match(illFormed(dupIdentity) ?? '', /duplicate identity/);
  // Same category/type with another lang or name is not a duplicate.
  assert.equal(illFormed(query(`${SIMPLE}<identity category='client' type='pc' xml:lang='de' name='Exodus 0.9.1'/>`)), undefined);

  const dupFeature = query(`${SIMPLE}<feature var='http://jabber.org/protocol/muc'/>`);
  assert.match(illFormed(dupFeature) ?? '', /duplicate feature/);
  const verdict = verify(dupFeature, 'sha-1', computeVer(dupFeature, 'sha-1'));
  assert.equal(verdict.ok === false && verdict.reason, 'ill-formed', 'even when the hash of the duplicated list matches');

  const form = (type: string) => `<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>${type}</value></field></x>`;
  assert.match(illFormed(query(`${SIMPLE}${form('urn:a')}${form('urn:a')}`)) ?? '', /duplicate form/);
  assert.equal(illFormed(query(`${SIMPLE}${form('urn:a')}${form('urn:b')}`)), undefined);
  const twoValues = `<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:a</value><value>urn:b</value></field></x>`;
  assert.match(illFormed(query(`${SIMPLE}${twoValues}`)) ?? '', /different values/);
});

test('§5.4: forms without FORM_TYPE or with a FORM_TYPE that is not hidden are left out of S', () => {
  const base = verificationString(query(SIMPLE));
  const notHidden = `<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>urn:x</value></field><field var='a'><value>1</value></field></x>`;
  const noType = `<x xmlns='jabber:x:data' type='result'><field var='a'><value>1</value></field></x>`;
  assert.equal(verificationString(query(`${SIMPLE}${notHidden}${noType}`)), base);
});

test('forms are sorted by FORM_TYPE, fields by var, values by octets; a field without values adds only its var', () => {
  const info = query(`
    <identity category='server' type='im'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'><value>urn:z</value></field>
      <field var='b'><value>2</value></field><field var='a'/>
    </x>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'><value>urn:a</value></field>
      <field var='v'><value>b</value><value>B</value><value>a</value></field>
    </x>`);
  assert.equal(verificationString(info), 'server/im//<urn:a<v<B<a<b<urn:z<a<b<2<');
});

test('"i;octet" collation: UTF-8 byte order, not UTF-16 code units', () => {
  // U+FF5E (3 bytes EF BD 9E) sorts before U+1F600 (4 bytes F0 9F 98 80) as octets, but after it in UTF-16.
  assert.ok(octetCompare('\uff5e', '\u{1f600}') < 0);
  assert.ok('\uff5e' > '\u{1f600}');
  assert.ok(octetCompare('B', 'a') < 0);
});
