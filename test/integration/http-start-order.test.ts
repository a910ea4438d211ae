/**
 * The HTTP server listens only once every module is loaded: a component's module that `uses` the
 * http module finds the service in its setup and mounts its route there, and at that moment no
 * HTTP listener is open yet (so no request can arrive before the route exists); a host module
 * depending on http sees the same. After start both routes answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestServer } from '../helpers/server.js';
import { defineModule } from '../../src/core/modules.js';
import { sendText } from '../../src/net/http.js';
import { builtinModules } from '../../src/modules/index.js';

interface AtSetup {
  module: string;
  hadHttp: boolean;
  listening: number;
}
const atSetup: AtSetup[] = [];

const componentModule = defineModule({
  name: 'test_routed_component',
  uses: ['http'],
  setup(mod) {
    const http = mod.optional('http');
    atSetup.push({ module: mod.name, hadHttp: http !== undefined, listening: mod.server.addresses('http').length });
    if (http) mod.onUnload(http.route({ path: `/component/${mod.host}`, handler: (_req, res) => sendText(res, 200, `component ${mod.host}`) }));
  },
});

const hostModule = defineModule({
  name: 'test_routed_host',
  depends: ['http'],
  setup(mod) {
    const http = mod.require('http');
    atSetup.push({ module: mod.name, hadHttp: true, listening: mod.server.addresses('http').length });
    mod.onUnload(http.route({ path: `/host/${mod.host}`, handler: (_req, res) => sendText(res, 200, `host ${mod.host}`) }));
  },
});

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('routes mounted in module setup exist before the HTTP server accepts', async () => {
  const registry = new Map([...builtinModules, [componentModule.name, componentModule] as const, [hostModule.name, hostModule] as const]);
  const ts = await startTestServer(
    (c) => {
      c.http.ports = [0];
      c.modules_enabled = [...c.modules_enabled, 'http', hostModule.name];
      c.component = [{ domain: 'routed.localhost', module: componentModule.name }];
    },
    { modules: registry },
  );
  try {
    assert.deepEqual(atSetup, [
      { module: hostModule.name, hadHttp: true, listening: 0 },
      { module: componentModule.name, hadHttp: true, listening: 0 },
    ]);
    const port = ts.server.port('http');
    assert.deepEqual(await get(port, '/component/routed.localhost'), { status: 200, body: 'component routed.localhost' });
    assert.deepEqual(await get(port, '/host/localhost'), { status: 200, body: 'host localhost' });
  } finally {
    await ts.stop();
  }
});
