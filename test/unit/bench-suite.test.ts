/**
 * Keeps the benchmark suite (bench/) from rotting: every scenario runs once at its tiny size
 * against a real Canto child process, and the generator's pieces are checked on their own.
 * No timing assertions: only that each scenario completes and reports sane numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StanzaSplitter } from '../../bench/load/splitter.js';
import { ScramSha1, scramDerivations } from '../../bench/load/scram.js';
import { scenarios } from '../../bench/scenarios/index.js';
import { canto } from '../../bench/servers/canto.js';
import { table, type SuiteReport } from '../../bench/run.js';

test('the splitter cuts stanzas across chunk boundaries and ignores the stream header', () => {
  const s = new StanzaSplitter();
  const first = s.push("<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='x'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:fea");
  assert.equal(first.opened, true);
  assert.deepEqual(first.stanzas, []);
  const second = s.push("tures><presence from='a@b/c'/><message id='1'><body>x &gt; y</bo");
  assert.deepEqual(second.stanzas, [
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
    "<presence from='a@b/c'/>",
  ]);
  const third = s.push('dy></message></stream:stream>');
  assert.deepEqual(third.stanzas, ["<message id='1'><body>x &gt; y</body></message>"]);
  assert.equal(third.closed, true);
});

test('SCRAM-SHA-1 matches RFC 5802 §5 and derives the salted password once per salt', () => {
  // RFC 5802 §5: user "user", password "pencil", client nonce fyko+d2lbbFgONRv9qkxdawL.
  const c = new ScramSha1('user', 'pencil');
  (c as unknown as { clientFirstBare: string }).clientFirstBare = 'n=user,r=fyko+d2lbbFgONRv9qkxdawL';
  const serverFirst = 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096';
  const before = scramDerivations();
  const final = Buffer.from(c.finalB64(Buffer.from(serverFirst).toString('base64')), 'base64').toString();
  assert.equal(final, 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=');
  assert.equal(c.verifyB64(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=').toString('base64')), true);
  assert.equal(c.verifyB64(Buffer.from('v=AAAApqV8S7suAoZWja4dJRkFsKQ=').toString('base64')), false);
  const again = new ScramSha1('user', 'pencil');
  again.finalB64(Buffer.from(serverFirst).toString('base64'));
  assert.equal(scramDerivations() - before, 1, 'the second exchange must reuse the cached keys');
});

for (const scenario of scenarios) {
  test(`scenario ${scenario.name} runs at its tiny size against Canto`, { timeout: 60_000 }, async () => {
    for (const params of scenario.sizes.tiny) {
      const server = await canto.start(scenario.setup(params));
      try {
        const result = await scenario.run(server, params);
        assert.equal(result.scenario, scenario.name);
        assert.equal(result.server, 'canto');
        assert.deepEqual(result.notes, [], 'a tiny run must not hit its time limit');
        assert.ok(result.metrics.length >= 3);
        for (const m of result.metrics) assert.ok(Number.isFinite(m.value), `${m.name} is ${m.value}`);
        const rate = result.metrics[0]!;
        if (scenario.name !== 'idle') assert.ok(rate.value > 0, `${rate.name} must be positive`);
        else assert.ok(result.metrics.find((m) => m.name === 'RSS after')!.value > 0);
      } finally {
        await server.stop();
      }
    }
  });
}

test('the report table carries ratios that say how many times better Canto is', () => {
  const metric = (value: number, better: 'higher' | 'lower') => ({ name: better === 'higher' ? 'rate' : 'time', value, unit: 'x', better });
  const result = (server: string, rate: number, time: number) => ({
    scenario: 's',
    server,
    params: { n: 1 },
    metrics: [metric(rate, 'higher'), metric(time, 'lower')],
    generator: { cpuSeconds: 1, wallSeconds: 2 },
    notes: [],
  });
  const report: SuiteReport = {
    date: '2024-01-01T00:00:00Z',
    size: 'tiny',
    machine: { cores: 1, cpuModel: 'x', memoryGiB: 1, node: 'v20' },
    loadAverage: { start: 0, end: 0 },
    versions: { canto: '0.1.0', prosody: '0.12' },
    runs: [{ scenario: 's', params: { n: 1 }, results: { canto: result('canto', 200, 5), prosody: result('prosody', 100, 10) }, errors: {} }],
  };
  const lines = table(report).split('\n');
  assert.match(lines.find((l) => l.includes('rate'))!, /\|\s+2\.00 \|$/);
  assert.match(lines.find((l) => l.includes('time'))!, /\|\s+2\.00 \|$/);
  assert.match(lines.find((l) => l.includes('generator'))!, /50 %/);
});
