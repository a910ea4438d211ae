/** Each documented form of session.close(reason), byte for byte on the wire. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { RawClient, clientHeader } from '../helpers/raw-client.js';
import type { CloseReason, StreamSession } from '../../src/core/session.js';
import { Element, NS_STREAM } from '../../src/xml/element.js';
import { waitFor } from '../../src/testing/index.js';

let ts: TestServer;
before(async () => {
  ts = await startTestServer();
});
after(async () => {
  await ts.stop();
});

/** Open a stream, then close the server's session for it with `reason`; return what followed the features. */
async function closeWith(reason: CloseReason | undefined, peerClosesFirst = false): Promise<string> {
  const before = new Set(ts.server.sessions.all);
  const c = await RawClient.connect(ts.c2sPort);
  c.send(clientHeader());
  await c.waitFor(/<stream:features\/>|<\/stream:features>/);
  const session = [...ts.server.sessions.all].find((s) => !before.has(s)) as StreamSession;
  assert.ok(session);
  const mark = c.received.length;
  if (peerClosesFirst) {
    c.send('</stream:stream>');
    await c.waitClosed();
    return c.received.slice(mark);
  }
  session.close(reason);
  await c.waitClosed();
  await waitFor(() => session.destroyed, { timeoutMs: 1000, message: 'the session is destroyed once the socket closes' });
  return c.received.slice(mark);
}

const SE = 'urn:ietf:params:xml:ns:xmpp-streams';

test('close() sends only the closing tag', async () => {
  assert.equal(await closeWith(undefined), '</stream:stream>');
});

test('close(condition) sends the stream error, then the closing tag', async () => {
  assert.equal(await closeWith('host-gone'), `<stream:error><host-gone xmlns="${SE}"/></stream:error></stream:stream>`);
});

test('close({ condition, text }) adds the text', async () => {
  assert.equal(
    await closeWith({ condition: 'conflict', text: 'replaced <by> another' }),
    `<stream:error><conflict xmlns="${SE}"/><text xmlns="${SE}" xml:lang="en">replaced &lt;by&gt; another</text></stream:error></stream:stream>`,
  );
});

test('close(element) sends the element as given', async () => {
  const err = new Element('error', undefined, NS_STREAM);
  err.c('see-other-host', { xmlns: SE }).t('[2001:db8::1]:5222');
  assert.equal(await closeWith(err), `<stream:error><see-other-host xmlns="${SE}">[2001:db8::1]:5222</see-other-host></stream:error></stream:stream>`);
});

test('a peer closing first gets our closing tag', async () => {
  assert.equal(await closeWith(undefined, true), '</stream:stream>');
});
