/**
 * The foundation's promise at the byte level: a raw TCP client opens a stream and gets a
 * header and features; bad XML of each forbidden kind gets its stream error and a closed
 * connection, and the server keeps serving others.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawClient, clientHeader } from '../helpers/raw-client.js';
import { waitFor } from '../../src/testing/index.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer((c) => {
    c.limits.max_stanza_size = 4096;
  });
});
after(async () => {
  await ts.stop();
});

const STREAM_ERROR = (cond: string) => new RegExp(`<stream:error><${cond} xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/?>`);

test('a stream header gets a header and stream features; </stream:stream> closes cleanly', async () => {
  const c = await RawClient.connect(ts.c2sPort);
  c.send(clientHeader());
  const got = await c.waitFor(/<stream:features/);
  assert.match(got, /^<\?xml version='1.0'\?><stream:stream /);
  assert.match(got, /xmlns='jabber:client'/);
  assert.match(got, /from='localhost'/);
  assert.match(got, / id='[A-Za-z0-9_-]{8,}'/);
  assert.match(got, /version='1.0'/);
  c.send('</stream:stream>');
  await c.waitClosed();
  assert.match(c.received, /<\/stream:stream>$/);
  assert.doesNotMatch(c.received, /stream:error/);
});

test('whitespace keepalives are accepted', async () => {
  const c = await RawClient.connect(ts.c2sPort);
  c.send(clientHeader());
  await c.waitFor(/<stream:features/);
  c.send('   \n \t ');
  c.send(' ');
  c.send('</stream:stream>');
  await c.waitClosed();
  assert.doesNotMatch(c.received, /stream:error/);
});

const refusals: Array<[string, string, string]> = [
  ['a DTD', `<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>`, 'restricted-xml'],
  ['a processing instruction', `${clientHeader()}<?evil data?>`, 'restricted-xml'],
  ['a comment', `${clientHeader()}<!-- hello -->`, 'restricted-xml'],
  ['an undefined entity', `${clientHeader()}<message to='x@localhost'><body>&nbsp;</body></message>`, 'restricted-xml'],
  ['a stanza over the size limit', `${clientHeader()}<message to='x@localhost'><body>${'a'.repeat(5000)}</body></message>`, 'policy-violation'],
  ['malformed XML', `${clientHeader()}<message><body></message>`, 'not-well-formed'],
  ['a wrong stream namespace', `<stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='urn:wrong'>`, 'invalid-namespace'],
  ['a server namespace on the client port', clientHeader().replace('jabber:client', 'jabber:server'), 'invalid-namespace'],
  ['an unknown host', clientHeader('nowhere.example'), 'host-unknown'],
  ['an invalid from in the header', clientHeader('localhost', " from='not a jid@@'"), 'invalid-from'],
  ['an old stream version', clientHeader().replace("to='localhost' version='1.0'", "to='localhost' version='0.9'"), 'unsupported-version'],
  ['a stream version 2', clientHeader().replace("to='localhost' version='1.0'", "to='localhost' version='2.0'"), 'unsupported-version'],
  ['a stanza before authentication', `${clientHeader()}<message to='x@localhost'><body>hi</body></message>`, 'not-authorized'],
];

for (const [what, input, condition] of refusals) {
  test(`${what} gets <${condition}/> and a closed connection; others are still served`, async () => {
    const bad = await RawClient.connect(ts.c2sPort);
    bad.send(input);
    await bad.waitFor(STREAM_ERROR(condition));
    await bad.waitClosed();
    assert.match(bad.received, /^<\?xml version='1.0'\?><stream:stream /, 'a stream header precedes the error');
    assert.match(bad.received, /<\/stream:stream>$/);

    const good = await RawClient.connect(ts.c2sPort);
    good.send(clientHeader());
    await good.waitFor(/<stream:features/);
    good.close();
  });
}

test('a stream that never authenticates is closed with connection-timeout', async () => {
  const quick = await startTestServer((c) => {
    c.c2s.auth_timeout = 300;
  });
  try {
    const c = await RawClient.connect(quick.c2sPort);
    c.send(clientHeader());
    await c.waitFor(STREAM_ERROR('connection-timeout'), 3000);
    await c.waitClosed();
  } finally {
    await quick.stop();
  }
});

test('too many unauthenticated connections from one address are refused', async () => {
  const small = await startTestServer((c) => {
    c.c2s.max_unauthed_per_ip = 2;
  });
  const clients: RawClient[] = [];
  try {
    for (let i = 0; i < 2; i++) clients.push(await RawClient.connect(small.c2sPort));
    const third = await RawClient.connect(small.c2sPort);
    await third.waitFor(STREAM_ERROR('policy-violation'));
    await third.waitClosed();
    // Closing one frees a slot.
    clients[0]?.close();
    const unauthed = () => [...small.server.sessions.all].filter((s) => s.type === 'c2s_unauthed').length;
    await waitFor(() => unauthed() < 2, { message: () => `${unauthed()} unauthenticated sessions left` });
    const again = await RawClient.connect(small.c2sPort);
    again.send(clientHeader());
    await again.waitFor(/<stream:features/);
    again.close();
  } finally {
    for (const c of clients) c.close();
    await small.stop();
  }
});

test('shutdown closes every stream with system-shutdown', async () => {
  const s = await startTestServer();
  const c = await RawClient.connect(s.c2sPort);
  c.send(clientHeader());
  await c.waitFor(/<stream:features/);
  await s.stop();
  await c.waitFor(STREAM_ERROR('system-shutdown'));
  await c.waitClosed();
});
