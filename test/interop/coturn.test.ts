/**
 * Issue 16, calls: Debian's coturn, started here on loopback with private ports and a temporary
 * directory from the operator example docs/examples/turnserver.conf (never the system service;
 * stopped by its PID), accepts the TURN credentials Canto hands out over XEP-0215 — turnutils_uclient
 * allocates relays and exchanges packets through them — and refuses them once expired. In CI a
 * missing coturn fails the file (scripts/install-test-deps.sh installs it); elsewhere it is skipped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorCondition, FakeClock, startHarness } from '../../src/testing/index.js';
import { iq } from '../../src/xml/stanza.js';
import externalServices from '../../src/modules/external_services/index.js';
import { peerSkip, stopChild, whenPeerReady } from '../helpers/peer.js';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, xml } from '../helpers/xmpp-client.js';

const NS = 'urn:xmpp:extdisco:2';
const SECRET = 'coturn-test-secret-' + Math.random().toString(36).slice(2);
const EXAMPLE = fileURLToPath(new URL('../../../docs/examples/turnserver.conf', import.meta.url));

function coturnMissing(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v turnserver && command -v turnutils_uclient'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'turnserver or turnutils_uclient is not on PATH (Debian package coturn)';
}
const skip = peerSkip('coturn', coturnMissing());

/** A port free for both TCP and UDP on 127.0.0.1 (coturn listens on both). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}

/** The example configuration with this test's addresses, ports, secret and files. */
function testConfig(dir: string, port: number, relayBase: number): string {
  const overrides: Record<string, string> = {
    'listening-ip': '127.0.0.1',
    'relay-ip': '127.0.0.1',
    'listening-port': String(port),
    'min-port': String(relayBase),
    'max-port': String(relayBase + 200),
    'static-auth-secret': SECRET,
    realm: 'canto.test',
    pidfile: join(dir, 'turnserver.pid'),
    'log-file': join(dir, 'turnserver.log'),
  };
  const lines = readFileSync(EXAMPLE, 'utf8')
    .split('\n')
    .map((line) => {
      const key = /^([a-z0-9-]+)=/.exec(line)?.[1];
      return key !== undefined && key in overrides ? `${key}=${overrides[key]}` : line;
    });
  for (const key of Object.keys(overrides)) assert.ok(lines.some((l) => l.startsWith(`${key}=`)), `the example sets ${key}`);
  // A test on one machine relays to itself; no TLS listener (no certificate), the database in the temp dir.
  lines.push('allow-loopback-peers', 'no-tls', 'no-dtls', `userdb=${join(dir, 'turndb.sqlite')}`, 'no-stdout-log');
  return lines.join('\n') + '\n';
}

let turn: ChildProcess | undefined;
let dir: string;
let port: number;
let ts: TestServer;

before(async () => {
  if (skip) return;
  dir = tempDir('canto-coturn-');
  port = await freePort();
  const relayBase = 40_000 + Math.floor(Math.random() * 20_000);
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(conf, testConfig(dir, port, relayBase));
  const child = spawn('turnserver', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  turn = child;
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  await whenPeerReady('coturn', child, listening, 20, {
    logTail: () => {
      let log = '';
      try {
        log = readFileSync(join(dir, 'turnserver.log'), 'utf8');
      } catch {
        // no log yet
      }
      return (output + log).split('\n').slice(-30).join('\n');
    },
    stop: () => stopChild(child, 2000),
  });

  ts = await startTestServer((c) => {
    c.modules.external_services = {
      secret: SECRET,
      services: [
        { type: 'stun', host: '127.0.0.1', port, transport: 'udp' },
        { type: 'turn', host: '127.0.0.1', port, transport: 'udp', name: 'Test relay' },
      ],
    };
  });
  await createAccount(ts, 'caller', 'pw');
});
after(async () => {
  if (skip) return;
  await (ts as TestServer | undefined)?.stop();
  if (turn) await stopChild(turn, 2000);
});

/** turnutils_uclient: two clients (-y) allocate relays and send each other packets through them. */
function allocate(username: string, password: string): { status: number | null; output: string } {
  const r = spawnSync('turnutils_uclient', ['-y', '-n', '2', '-p', String(port), '-u', username, '-w', password, '127.0.0.1'], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('the credentials Canto hands out let turnutils_uclient allocate a relay on coturn', { skip, timeout: 60_000 }, async () => {
  const caller = await loginClient(ts, 'caller', 'pw', 'phone');
  try {
    const info = await caller.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' })));
    assert.ok(info.getChild('query')?.getChildren('feature').some((f) => f.attrs.var === NS), 'urn:xmpp:extdisco:2 on the server');
    const r = await caller.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('services', { xmlns: NS })));
    const services = r.getChild('services', NS)?.getChildren('service') ?? [];
    assert.deepEqual(services.map((s) => s.attrs.type), ['stun', 'turn']);
    const stun = services[0];
    assert.equal(stun?.attrs.username, undefined, 'STUN needs no credentials');
    assert.equal(stun?.attrs.restricted, undefined);
    const relay = services[1];
    assert.equal(relay?.attrs.restricted, 'true');
    assert.equal(relay?.attrs.port, String(port));
    assert.match(relay?.attrs.username ?? '', /^\d+:caller@localhost$/);
    const expires = Date.parse(relay?.attrs.expires ?? '');
    assert.ok(Math.abs(expires - (Date.now() + 86_400_000)) < 60_000, 'expires in a day (credentials_ttl)');

    const ok = allocate(relay?.attrs.username ?? '', relay?.attrs.password ?? '');
    assert.equal(ok.status, 0, ok.output);
    assert.match(ok.output, /tot_recv_bytes ~ [1-9]/, 'packets went through the relays');

    // §3.3: fresh credentials for one service.
    const c = await caller.iq(xml('iq', { type: 'get', to: 'localhost' }, xml('credentials', { xmlns: NS }, xml('service', { type: 'turn', host: '127.0.0.1' }))));
    const one = c.getChild('credentials', NS)?.getChild('service');
    assert.equal(allocate(one?.attrs.username ?? '', one?.attrs.password ?? '').status, 0);
    assert.equal(allocate(one?.attrs.username ?? '', 'd3JvbmcgcGFzc3dvcmQ=').status === 0, false, 'a wrong password is refused');
  } finally {
    await caller.stop();
  }
});

test('expired credentials are refused by coturn', { skip, timeout: 60_000 }, async () => {
  // The server's clock two days back: the day-long credentials it hands out expired yesterday.
  const clock = new FakeClock(Date.now() - 2 * 86_400_000);
  const h = await startHarness({
    modules: [externalServices],
    clock,
    config: (c) => {
      c.modules.external_services = { secret: SECRET, services: [{ type: 'turn', host: '127.0.0.1', port, transport: 'udp' }] };
    },
  });
  try {
    const caller = await h.client('caller@localhost/a');
    const ask = async () => (await caller.ask(iq({ type: 'get', to: 'localhost', id: `s${Math.random()}` }).c('services', { xmlns: NS }).root())).getChild('services', NS)?.getChild('service');
    const old = await ask();
    assert.ok(Date.parse(old?.attrs.expires ?? '') < Date.now());
    const refused = allocate(old?.attrs.username ?? '', old?.attrs.password ?? '');
    assert.notEqual(refused.status, 0, refused.output);
    assert.match(refused.output, /Cannot complete Allocation/);
    clock.advance(2 * 86_400_000);
    const fresh = await ask();
    assert.equal(allocate(fresh?.attrs.username ?? '', fresh?.attrs.password ?? '').status, 0, 'the same secret, credentials of now');
  } finally {
    await h.stop();
  }
});

test("only users of the host get services: another domain's user is forbidden; an unknown service is item-not-found", { skip }, async () => {
  const h = await startHarness({
    modules: [externalServices],
    config: (c) => {
      c.virtualhost.push({ domain: 'other.test', allow_registration: false, modules_enabled: [], modules_disabled: [] });
      c.modules.external_services = { secret: SECRET, services: [{ type: 'turn', host: '127.0.0.1', port }] };
    },
  });
  try {
    const romeo = await h.client('romeo@localhost/x');
    const none = await romeo.ask(iq({ type: 'get', to: 'localhost', id: 'c1' }).c('credentials', { xmlns: NS }).c('service', { type: 'turn', host: 'other.example' }).root());
    assert.equal(errorCondition(none), 'cancel/item-not-found');
    const eve = await h.client('eve@other.test/x');
    const forbidden = await eve.ask(iq({ type: 'get', to: 'localhost', id: 'e1' }).c('services', { xmlns: NS }).root());
    assert.equal(errorCondition(forbidden), 'auth/forbidden');
    assert.equal(forbidden.getChild('error')?.toString().includes('password'), false);
  } finally {
    await h.stop();
  }
});
