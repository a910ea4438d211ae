import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlainServer, parsePlainMessage } from '../../src/sasl/plain.js';
import { FakeCredentials } from '../../src/sasl/fake-credentials.js';
import { SaslError, type SaslStep } from '../../src/sasl/mechanism.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import type { AccountCredentials } from '../../src/storage/types.js';

const fake = new FakeCredentials(4096);
const accounts: Record<string, AccountCredentials> = { juliet: makeCredentials('r0m30', { iterations: 4096, hashes: ['SHA-1', 'SHA-256'] }) };
const plain = (lookup = async (u: string) => accounts[u]) => new PlainServer({ host: 'capulet.lit', fake, lookup });
const msg = (s: string) => Buffer.from(s, 'utf8');

function condition(step: SaslStep): string {
  return step.kind === 'failure' ? step.condition : step.kind;
}

describe('PLAIN message parsing', () => {
  it('splits authzid, authcid and password', () => {
    assert.deepEqual(parsePlainMessage(msg('\0juliet\0r0m30')), { authzid: '', authcid: 'juliet', password: 'r0m30' });
    assert.deepEqual(parsePlainMessage(msg('juliet@capulet.lit\0juliet\0pass\u00e9')), { authzid: 'juliet@capulet.lit', authcid: 'juliet', password: 'passé' });
  });
  it('refuses wrong field counts, empty fields, overlong fields and bad UTF-8', () => {
    for (const bad of ['juliet\0r0m30', '\0juliet\0r0m30\0x', '\0\0r0m30', '\0juliet\0', '']) assert.equal(parsePlainMessage(msg(bad)), undefined, JSON.stringify(bad));
    assert.equal(parsePlainMessage(msg(`\0${'a'.repeat(256)}\0x`)), undefined);
    assert.equal(parsePlainMessage(Buffer.from([0, 0x6a, 0, 0xff])), undefined);
  });
});

describe('PLAIN server', () => {
  it('accepts the right password, case-folding the username', async () => {
    const step = await plain().step(msg('\0Juliet\0r0m30'));
    assert.equal(step.kind, 'success');
    if (step.kind === 'success') assert.equal(step.username, 'juliet');
  });
  it('accepts an authzid that is the account JID, refuses another', async () => {
    assert.equal(condition(await plain().step(msg('juliet@capulet.lit\0juliet\0r0m30'))), 'success');
    assert.equal(condition(await plain().step(msg('romeo@capulet.lit\0juliet\0r0m30'))), 'invalid-authzid');
  });
  it('wrong password and unknown user are both not-authorized', async () => {
    assert.equal(condition(await plain().step(msg('\0juliet\0wrong'))), 'not-authorized');
    assert.equal(condition(await plain().step(msg('\0nobody\0r0m30'))), 'not-authorized');
  });
  it('malformed messages are malformed-request; a finished exchange refuses more', async () => {
    assert.equal(condition(await plain().step(msg('juliet\0r0m30'))), 'malformed-request');
    const p = plain();
    await p.step(msg('\0juliet\0r0m30'));
    assert.equal(condition(await p.step(msg('\0juliet\0r0m30'))), 'malformed-request');
  });
  it('no initial response gets one empty challenge', async () => {
    const p = plain();
    const first = await p.step(undefined);
    assert.equal(first.kind, 'challenge');
    assert.equal(condition(await p.step(msg('\0juliet\0r0m30'))), 'success');
  });
  it('maps lookup errors', async () => {
    assert.equal(condition(await plain(async () => { throw new SaslError('account-disabled'); }).step(msg('\0juliet\0r0m30'))), 'account-disabled');
    assert.equal(condition(await plain(async () => { throw new Error('down'); }).step(msg('\0juliet\0r0m30'))), 'temporary-auth-failure');
  });
});
