/**
 * Cluster mode and offline storage, one worker in process with a scripted primary: a message
 * this worker stored offline for a user who was just then logging in on another worker must
 * reach that user as soon as their presence arrives here (found by the messages bench with
 * two workers: one message in 10,000 waited for the next login).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.js';
import { FakeClient, settle } from '../../src/testing/index.js';
import { ClusterWorker, type WorkerChannel } from '../../src/cluster/worker.js';
import type { PrimaryToWorker, RegistryEntry, WorkerToPrimary } from '../../src/cluster/protocol.js';
import { silentLogger } from '../../src/core/logging.js';
import { makeCredentials } from '../../src/sasl/scram-credentials.js';
import { message } from '../../src/xml/stanza.js';


test('a message stored offline here is delivered when the recipient becomes available on another worker', async () => {
  const sent: WorkerToPrimary[] = [];
  let fromPrimary: (m: PrimaryToWorker) => void = () => {};
  const channel: WorkerChannel = {
    send: (m) => {
      sent.push(m);
      if (m.t === 'hello') queueMicrotask(() => fromPrimary({ t: 'snapshot', entries: [] }));
    },
    onMessage: (handler) => {
      fromPrimary = handler;
    },
  };
  const ts = await startTestServer((c) => {
    c.modules_enabled = ['message', 'offline'];
  }, { cluster: new ClusterWorker(1, 2, channel, silentLogger()) });
  try {
    const creds = makeCredentials('pw', { iterations: 4096, hashes: ['SHA-1'] });
    for (const u of ['romeo', 'juliet']) await ts.server.storage.accounts.create('localhost', u, creds);
    const romeo = new FakeClient(ts.server, 'romeo@localhost/garden');
    ts.server.router.fromClient(romeo.session, message({ to: 'juliet@localhost', type: 'chat', id: 'm1' }).c('body').t('hi').up());
    await settle();
    const offline = ts.server.storage.archive('localhost', 'offline');
    assert.equal(await offline.count('juliet'), 1, 'nobody online: stored');

    // Juliet binds on worker 2 (not yet available), then her initial presence is published.
    const e: RegistryEntry = { host: 'localhost', username: 'juliet', resource: 'balcony', worker: 2, sid: 'c2s7', interested: false };
    fromPrimary({ t: 'bound', e });
    await settle();
    assert.equal(sent.filter((m) => m.t === 'deliver').length, 0, 'bound but not available: nothing delivered');
    fromPrimary({ t: 'updated', e: { ...e, priority: 0, presence: '<presence/>' } });
    await settle();
    const delivered = sent.filter((m) => m.t === 'deliver');
    assert.equal(delivered.length, 1);
    assert.ok(delivered[0]?.t === 'deliver' && delivered[0].to === 2 && delivered[0].resource === 'balcony' && delivered[0].xml.includes('>hi<'));
    assert.equal(await offline.count('juliet'), 0, 'claimed from the store');

    // A later presence change is not news: nothing is delivered again.
    fromPrimary({ t: 'updated', e: { ...e, priority: 1, presence: '<presence><show>away</show></presence>' } });
    await settle();
    assert.equal(sent.filter((m) => m.t === 'deliver').length, 1);
  } finally {
    await ts.stop();
  }
});
