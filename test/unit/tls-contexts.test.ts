/** Certificates per host: SNI choice, and a clear refusal to start without one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { createServer } from 'node:tls';
import { defaultConfig } from '../../src/app/config.js';
import { TlsContexts, CertificateError } from '../../src/net/tls.js';
import { makeSelfSigned } from '../../src/net/certificates.js';
import { tempDir, startTestServer } from '../helpers/server.js';

test('a domain other than localhost without a certificate stops start-up with advice', async () => {
  await assert.rejects(
    startTestServer((c) => {
      c.virtualhost.push({ domain: 'chat.example.org', allow_registration: false, modules_enabled: [], modules_disabled: [] });
    }),
    (err: Error) => err instanceof CertificateError && /chat\.example\.org has no certificate/.test(err.message) && /certificate = /.test(err.message),
  );
});

test('SNI picks each host its own certificate; no SNI gets the first host', async () => {
  const dir = tempDir();
  const config = defaultConfig();
  config.data_dir = dir;
  config.virtualhost = [];
  for (const domain of ['a.example', 'b.example']) {
    const paths = { certificate: join(dir, `${domain}.crt`), key: join(dir, `${domain}.key`) };
    await makeSelfSigned(domain, paths);
    config.virtualhost.push({ domain, ...paths, allow_registration: false, modules_enabled: [], modules_disabled: [] });
  }
  const contexts = new TlsContexts(config);
  const server = createServer(contexts.serverOptions(), (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const subjectFor = (servername?: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().subject.CN as string);
        s.destroy();
      });
      s.on('error', reject);
    });
  try {
    assert.equal(await subjectFor('b.example'), 'b.example');
    assert.equal(await subjectFor('a.example'), 'a.example');
    assert.equal(await subjectFor('sub.b.example'), 'b.example');
    assert.equal(await subjectFor(undefined), 'a.example');
  } finally {
    server.close();
  }
});
