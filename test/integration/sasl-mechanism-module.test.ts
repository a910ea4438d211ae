/**
 * A module adds a SASL mechanism through the 'sasl-mechanisms' service: a test-only X-TEST
 * that accepts a fixed token for an existing account. It is offered beside the built-ins, a
 * raw client logs in with it, and unloading the module takes it out of the offer again.
 */
import { z } from 'zod';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawTlsClient } from '../helpers/scram-client.js';
import { defineModule } from '../../src/core/modules.js';
import { builtinModules } from '../../src/modules/index.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { failure, prepareSaslUsername, type SaslServerMechanism, type SaslStep } from '../../src/sasl/mechanism.js';
import type { SaslStartContext } from '../../src/sasl/registry.js';

const SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const mechanismsOf = (features: string) => [...(/<mechanisms[\s\S]*?<\/mechanisms>/.exec(features)?.[0] ?? '').matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);

/** <auth/> carries the username, the server asks "token?", the <response/> carries the token. */
class XTestServer implements SaslServerMechanism {
  readonly name = 'X-TEST';
  username: string | undefined;
  private asked = false;

  constructor(
    private readonly ctx: SaslStartContext,
    private readonly token: string,
  ) {}

  async step(message: Buffer | undefined): Promise<SaslStep> {
    if (!this.asked) {
      this.username = message && prepareSaslUsername(message.toString('utf8'));
      if (this.username === undefined) return failure('malformed-request', 'expected a username');
      this.asked = true;
      return { kind: 'challenge', data: Buffer.from('token?') };
    }
    const known = (await this.ctx.credentials(this.username ?? '')) !== undefined;
    if (!known || message?.toString('utf8') !== this.token) return failure('not-authorized', undefined, this.username);
    return { kind: 'success', username: this.username ?? '' };
  }
}

const xTest = defineModule({
  name: 'x-test',
  depends: ['saslauth'],
  options: z.object({ token: z.string().default('open-sesame') }),
  setup(mod) {
    const token = mod.options.token;
    const unregister = mod.require('sasl-mechanisms').register({
      name: 'X-TEST',
      priority: 20,
      available: () => true,
      start: (ctx) => new XTestServer(ctx, token),
    });
    mod.onUnload(unregister);
  },
});

let ts: TestServer;
before(async () => {
  ts = await startTestServer(
    (c) => {
      c.c2s.require_encryption = false;
      c.modules_enabled.push('x-test');
    },
    { modules: new Map([...builtinModules, [xTest.name, xTest]]) },
  );
  assert.ok(await ts.server.storage.accounts.create('localhost', 'juliet', makeCredentials('r0m30', { iterations: 4096, hashes: ['SHA-256'] })));
});
after(async () => {
  await ts.stop();
});

test('the module\'s mechanism is offered by priority and logs a raw client in', async () => {
  const c = await RawTlsClient.connect(ts.c2sPort);
  assert.deepEqual(mechanismsOf(await c.open()), ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'X-TEST']);
  c.send(`<auth xmlns='${SASL}' mechanism='X-TEST'>${b64('Juliet')}</auth>`);
  await c.next(new RegExp(`<challenge xmlns=["']${SASL}["']>${b64('token?')}</challenge>`));
  c.send(`<response xmlns='${SASL}'>${b64('open-sesame')}</response>`);
  await c.next(new RegExp(`<success xmlns=["']${SASL}["']/>`));
  // The restarted stream belongs to juliet: it offers binding, and no SASL any more.
  const features = await c.open();
  assert.match(features, /<bind xmlns=["']urn:ietf:params:xml:ns:xmpp-bind["']/);
  assert.doesNotMatch(features, /<mechanisms/);
  c.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`);
  await c.next(/<jid>juliet@localhost\/[^<]+<\/jid>/);
  c.close();
});

test('a wrong token is not-authorized, like any other mechanism', async () => {
  const c = await RawTlsClient.connect(ts.c2sPort);
  await c.open();
  c.send(`<auth xmlns='${SASL}' mechanism='X-TEST'>${b64('juliet')}</auth>`);
  await c.next(/<challenge /);
  c.send(`<response xmlns='${SASL}'>${b64('guess')}</response>`);
  await c.next(new RegExp(`<failure xmlns=["']${SASL}["']><not-authorized/>`));
  c.close();
});

test('unloading the module takes the mechanism out of the offer', async () => {
  const loaded = ts.server.hosts.get('localhost')?.modules.get('x-test');
  assert.ok(loaded);
  await loaded.unload();
  const c = await RawTlsClient.connect(ts.c2sPort);
  assert.deepEqual(mechanismsOf(await c.open()), ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
  c.send(`<auth xmlns='${SASL}' mechanism='X-TEST'>${b64('juliet')}</auth>`);
  await c.next(new RegExp(`<failure xmlns=["']${SASL}["']><invalid-mechanism/><text xml:lang=["']en["']>X-TEST is not offered</text>`));
  c.close();
});
