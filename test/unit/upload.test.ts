/** The upload module's pure parts: file names, content types, dispositions, ranges, tokens. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFilename, contentDisposition, dispositionType, normaliseContentType, parseSize, typeAllowed } from '../../src/modules/upload/names.js';
import { parseRange } from '../../src/modules/upload/ranges.js';
import { bearerToken, makeToken, verifyToken } from '../../src/modules/upload/token.js';
import { isSlotId, newSlotId } from '../../src/modules/upload/files.js';

test('file names: kept (NFC, trimmed) or refused', () => {
  assert.deepEqual(checkFilename(' re\u0301sume\u0301.pdf '), { ok: true, name: 'résumé.pdf' });
  assert.deepEqual(checkFilename('..hidden'), { ok: true, name: '..hidden' });
  for (const bad of [undefined, '', ' ', '.', '..', '../x', 'a/b', 'a\\b', 'a\u0000b', 'a\u009fb', 'x\u202Egpj.exe', 'x\u2066y', 'é'.repeat(128)]) {
    assert.equal(checkFilename(bad).ok, false, JSON.stringify(bad));
  }
});

test('sizes: positive decimal integers only', () => {
  assert.equal(parseSize('5242880'), 5242880);
  for (const bad of [undefined, '', '0', '-1', '+1', '1.5', '1e3', ' 1', '0x10', '99999999999999999']) assert.equal(parseSize(bad), undefined, String(bad));
});

test('content types: one canonical form; junk refused; patterns', () => {
  assert.equal(normaliseContentType('Text/Plain;Charset=UTF-8'), 'text/plain; charset=UTF-8');
  assert.equal(normaliseContentType('image/png'), 'image/png');
  assert.equal(normaliseContentType('text/plain; charset="utf 8"'), 'text/plain; charset="utf 8"');
  for (const bad of ['text', 'text/', '/plain', 'text/plain\r\nX: y', 'a b/c', 'text/plain; x']) assert.equal(normaliseContentType(bad), undefined, bad);
  assert.ok(typeAllowed('image/png', []));
  assert.ok(typeAllowed('image/png', ['image/*']));
  assert.ok(typeAllowed('text/plain; charset=utf-8', ['text/plain']));
  assert.ok(!typeAllowed('text/html', ['image/*', 'text/plain']));
});

test('disposition: media inline, everything else (SVG included) attachment; names in both encodings', () => {
  assert.equal(dispositionType('image/jpeg'), 'inline');
  assert.equal(dispositionType('video/mp4'), 'inline');
  assert.equal(dispositionType('audio/ogg; codecs=opus'), 'inline');
  for (const t of ['image/svg+xml', 'text/html', 'application/xhtml+xml', 'application/pdf', 'application/octet-stream']) assert.equal(dispositionType(t), 'attachment', t);
  assert.equal(contentDisposition('attachment', 'naïve "plan".txt'), `attachment; filename="na_ve _plan_.txt"; filename*=UTF-8''na%C3%AFve%20%22plan%22.txt`);
});

test('ranges: one range, suffixes, open ends, unsatisfiable, ignored forms', () => {
  assert.deepEqual(parseRange(undefined, 100), { kind: 'all' });
  assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'range', start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'range', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=90-500', 100), { kind: 'range', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'range', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-500', 100), { kind: 'range', start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=9-0', 100), { kind: 'all' });
  assert.deepEqual(parseRange('bytes=0-1,3-4', 100), { kind: 'all' });
  assert.deepEqual(parseRange('items=0-1', 100), { kind: 'all' });
});

test('tokens: round trip; any change to the payload, the signature or the secret fails', () => {
  const secret = Buffer.from('0123456789abcdef0123456789abcdef');
  const claims = { id: newSlotId(), name: 'a.txt', size: 3, type: 'text/plain', owner: 'romeo@localhost', exp: 1_900_000_000_000 };
  assert.ok(isSlotId(claims.id));
  const token = makeToken(secret, claims);
  assert.deepEqual(verifyToken(secret, token), claims);
  assert.equal(bearerToken(`Bearer ${token}`), token);
  assert.equal(bearerToken(`Basic ${token}`), undefined);
  assert.equal(verifyToken(Buffer.from('another secret of some length..'), token), undefined);
  const [payload = '', sig = ''] = token.split('.');
  const forged = Buffer.from(JSON.stringify({ ...claims, size: 4 })).toString('base64url');
  assert.equal(verifyToken(secret, `${forged}.${sig}`), undefined);
  assert.equal(verifyToken(secret, `${payload}.${sig.slice(0, -2)}`), undefined);
  assert.equal(verifyToken(secret, payload), undefined);
});
