import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Element } from '../../src/xml/element.js';
import { checkNewAccount, checkPasswordChange } from '../../src/modules/register/fields.js';
import { NS_REGISTER, parseRegisterQuery, registeredInfo, registrationForm } from '../../src/modules/register/query.js';

function query(build: (q: Element) => void): Element {
  const q = new Element('query', { xmlns: NS_REGISTER });
  build(q);
  return q;
}

test('parseRegisterQuery reads fields, trims the username but not the password', () => {
  const q = query((q) => {
    q.c('username').t('\n  Bill \n');
    q.c('password').t(' secret ');
  });
  assert.deepEqual(parseRegisterQuery(q), { kind: 'fields', username: 'Bill', password: ' secret ' });
  assert.deepEqual(parseRegisterQuery(query((q) => void q.c('password'))), { kind: 'fields', username: undefined, password: '' });
});

test('parseRegisterQuery sees <remove/> and whether it is alone', () => {
  assert.deepEqual(parseRegisterQuery(query((q) => void q.c('remove'))), { kind: 'remove', alone: true });
  const mixed = query((q) => {
    q.c('remove');
    q.c('username').t('bill');
  });
  assert.deepEqual(parseRegisterQuery(mixed), { kind: 'remove', alone: false });
  // A <remove/> in another namespace is not a removal.
  const foreign = query((q) => void q.c('remove', { xmlns: 'urn:other' }));
  assert.equal(parseRegisterQuery(foreign).kind, 'fields');
});

test('the form and the registered answer have the XEP-0077 fields', () => {
  const form = registrationForm('Pick a name');
  assert.equal(form.xmlns, NS_REGISTER);
  assert.equal(form.getChildText('instructions', NS_REGISTER), 'Pick a name');
  assert.ok(form.getChild('username', NS_REGISTER));
  assert.ok(form.getChild('password', NS_REGISTER));
  assert.equal(form.getChild('registered'), undefined);
  const info = registeredInfo('bill', 'x');
  assert.ok(info.getChild('registered', NS_REGISTER));
  assert.equal(info.getChildText('username', NS_REGISTER), 'bill');
});

test('checkNewAccount: missing, empty or unusable fields are not-acceptable; the username is prepared', () => {
  const refusal = (u: string | undefined, p: string | undefined) => {
    const r = checkNewAccount(u, p);
    assert.equal(r.ok, false);
    return r.ok ? undefined : r.refusal.condition;
  };
  assert.equal(refusal(undefined, 'pw'), 'not-acceptable');
  assert.equal(refusal('bill', undefined), 'not-acceptable');
  assert.equal(refusal('bill', ''), 'not-acceptable');
  assert.equal(refusal('', 'pw'), 'not-acceptable');
  assert.equal(refusal('bill@home', 'pw'), 'not-acceptable');
  assert.equal(refusal('a b', 'pw'), 'not-acceptable');
  assert.equal(refusal('x'.repeat(1100), 'pw'), 'not-acceptable');
  assert.equal(refusal('bill', 'bad\u0007control'), 'not-acceptable');
  assert.deepEqual(checkNewAccount('Bill', 'Calliope'), { ok: true, value: { username: 'bill', password: 'Calliope' } });
  assert.deepEqual(checkNewAccount('Ünïcode', 'pw'), { ok: true, value: { username: 'ünïcode', password: 'pw' } });
});

test('checkPasswordChange: own username required, empty password kept, unusable refused', () => {
  const cond = (u: string | undefined, p: string | undefined) => {
    const r = checkPasswordChange('bill', u, p);
    return r.ok ? 'ok' : r.refusal.condition;
  };
  assert.equal(cond(undefined, 'new'), 'bad-request');
  assert.equal(cond('bill', ''), 'bad-request');
  assert.equal(cond('bill', undefined), 'bad-request');
  assert.equal(cond('juliet', 'new'), 'bad-request');
  assert.equal(cond('bill@x', 'new'), 'bad-request');
  assert.equal(cond('bill', 'bad\u0007'), 'not-acceptable');
  assert.equal(cond('BILL', 'new'), 'ok');
  assert.deepEqual(checkPasswordChange('bill', 'bill', 'new'), { ok: true, value: 'new' });
});
