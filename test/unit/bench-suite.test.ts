/**
 * Keeps the benchmark suite (bench/) from rotting: every scenario runs once at its tiny size
 * against a real Canto child process, and the generator's pieces are checked on their own.
 * No timing assertions: only that each scenario completes and reports sane numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BenchClient } from '../../bench/load/client.js';
import { StanzaSplitter } from '../../bench/load/splitter.js';
import { startTestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { waitFor } from '../../src/testing/index.js';
import { ScramSha1, scramDerivations } from '../../bench/load/scram.js';
import { scenarios } from '../../bench/scenarios/index.js';
import { canto, cantoMissingModules } from '../../bench/servers/canto.js';
import { resultSections, resultsMarkdown, skipReason, table, targetLines, type SuiteReport } from '../../bench/run.js';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { ChildGenerators, generatorSlices, MAX_PER_CHILD } from '../../bench/load/child-generators.js';
import { clusterPlans, idleClusterScenario, idleScenario } from '../../bench/scenarios/idle.js';
import { cpuSeconds, processTree, rssBytes, stopChild } from '../../bench/servers/proc.js';
import { configYaml as ejabberdConfig, ejabberdSkipReason, seedEval as ejabberdSeedEval } from '../../bench/servers/ejabberd.js';


/** A suite report for the table tests: Canto against Prosody on a made-up machine. */
function reportOf(size: SuiteReport['size'], runs: SuiteReport['runs']): SuiteReport {
  return {
    date: '2024-01-01T00:00:00Z',
    size,
    machine: { cores: 1, cpuModel: 'x', memoryGiB: 1, node: 'v20' },
    loadAverage: { start: 0, end: 0 },
    versions: { canto: '0.1.0', prosody: '0.12' },
    runs,
  };
}

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
  // A scenario written ahead of its feature (pep before the pep module) waits for it; it runs
  // as soon as the module is registered.
  const missing = [...new Set(scenario.sizes.tiny.flatMap((p) => cantoMissingModules(scenario.setup(p))))];
  const skip = missing.length > 0 ? `Canto has no module ${missing.join(', ')} yet` : false;
  test(`scenario ${scenario.name} runs at its tiny size against Canto`, { timeout: 60_000, skip }, async () => {
    for (const params of scenario.sizes.tiny) {
      const server = await canto.start(scenario.setup(params));
      try {
        const result = await scenario.run(server, params);
        assert.equal(result.scenario, scenario.name);
        assert.equal(result.server, 'canto');
        // Notes also carry facts (e.g. how many TLS sessions were resumed); a limit hit or a short page is a failure.
        assert.deepEqual(result.notes.filter((n) => /time limit|fewer than/.test(n)), [], 'a tiny run must not hit its time limit');
        assert.ok(result.metrics.length >= 3);
        for (const m of result.metrics) assert.ok(Number.isFinite(m.value), `${m.name} is ${m.value}`);
        const rate = result.metrics[0]!;
        const metric = (name: string) => result.metrics.find((m) => m.name === name)?.value ?? Number.NaN;
        if (scenario.name === 'idle') assert.ok(metric('RSS after') > 0);
        else if (scenario.name === 'cluster') {
          // Cross-node messages go through Redis (EVALSHA DELIVER, XADD, XREADGROUP …); local ones do not.
          assert.ok(metric('cross: Redis commands per msg') >= 1, 'a cross-node message costs Redis commands');
          assert.ok(metric('local: Redis commands per msg') < 0.9, 'a local message does not go through Redis');
          assert.ok(metric('cross: node CPU per 1k msgs') > 0);
        } else if (scenario.name === 'idle-cluster') {
          assert.equal(metric('connections held'), params.connections);
          assert.ok(metric('RSS after (all nodes)') > 0);
        } else if (scenario.name === 'soak') {
          // The first metric is RSS growth, which may be zero or negative; the load must have run.
          for (const name of ['RSS start', 'RSS end', 'messages delivered/s', 'offline messages delivered', 'logins/s', 'presence received/s', 'iq answered/s']) {
            assert.ok(metric(name) > 0, `${name} must be positive`);
          }
          assert.equal(metric('messages undelivered'), 0);
        } else assert.ok(rate.value > 0, `${rate.name} must be positive`);
      } finally {
        await server.stop();
      }
      if (server.cluster) {
        // Every node and the private redis-server were stopped with it (gone, or a zombie until reaped).
        for (const pid of [...server.cluster.nodes.map((n) => n.pid), server.cluster.redis.pid]) {
          const state = existsSync(`/proc/${pid}`) ? /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] : 'gone';
          assert.ok(state === 'gone' || state === 'Z', `process ${pid} of the cluster was stopped (state ${state})`);
        }
      }
    }
  });
}

test('a Redis cluster idle run spreads connections over the nodes, children under MAX_PER_CHILD, each from its own source address', () => {
  const nodes = [1, 2, 3].map((k) => ({ nodeId: `n${k}`, host: `127.0.0.${k + 1}`, port: 5000 + k, pid: 1 }));
  const server = { name: 'canto' as const, domain: 'localhost', port: 5001, pid: 1, password: 'p', username: (i: number) => `u${i}`, stop: () => Promise.resolve() };
  const plans = clusterPlans(server, { nodes, redis: { pid: 1, cli: () => Promise.resolve('') } }, 100_000);
  assert.equal(plans.reduce((s, p) => s + p.count, 0), 100_000);
  assert.ok(plans.every((p) => p.count <= MAX_PER_CHILD));
  assert.equal(new Set(plans.map((p) => p.localAddress)).size, plans.length, 'one source address per child');
  for (const node of nodes) {
    const share = plans.filter((p) => p.target.host === node.host).reduce((s, p) => s + p.count, 0);
    assert.ok(share === 33_334 || share === 33_333, `${node.host} gets a third (${share})`);
  }
  // Users are numbered on without gaps or overlaps.
  plans.forEach((p, i) => assert.equal(p.first, i === 0 ? 0 : plans[i - 1]!.first + plans[i - 1]!.count));
  const full = idleClusterScenario.sizes.full[0]!;
  assert.ok(full.connections / full.redisNodes! + 100 < 20_000, 'each node stays under the 20,000 open-files limit');
  const onePerNode = clusterPlans(server, { nodes, redis: { pid: 1, cli: () => Promise.resolve('') } }, 51_000, 17_000);
  assert.deepEqual(onePerNode.map((p) => [p.target.host, p.count]), [['127.0.0.2', 17_000], ['127.0.0.3', 17_000], ['127.0.0.4', 17_000]]);
  assert.ok(full.perChild! + 100 < 20_000, 'each generator child stays under the 20,000 open-files limit');
});

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
  const report = reportOf('tiny', [{ scenario: 's', params: { n: 1 }, results: { canto: result('canto', 200, 5), prosody: result('prosody', 100, 10) }, errors: {} }]);
  const lines = table(report).split('\n');
  assert.match(lines.find((l) => l.includes('rate'))!, /\|\s+2\.00 \|$/);
  assert.match(lines.find((l) => l.includes('time'))!, /\|\s+2\.00 \|$/);
  assert.match(lines.find((l) => l.includes('generator'))!, /50 %/);
});

// ---- Idle connections held by generator child processes; server RSS and CPU over a process tree.

/** PIDs of this test process's descendants running bench/load/idle-child.js. */
function idleChildren(): number[] {
  return processTree(process.pid)
    .slice(1)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('idle-child.js');
      } catch {
        return false;
      }
    });
}

test('connections are split evenly over generator children only when needed or forced', () => {
  assert.deepEqual(generatorSlices(5), []);
  assert.deepEqual(generatorSlices(MAX_PER_CHILD), []);
  assert.deepEqual(generatorSlices(MAX_PER_CHILD + 1), [4001, 4000]);
  assert.deepEqual(generatorSlices(20_000), [6667, 6667, 6666]);
  assert.deepEqual(generatorSlices(10, 2), [5, 5]);
  assert.deepEqual(generatorSlices(3, 5), [1, 1, 1], 'never an empty child');
  assert.deepEqual(generatorSlices(20_000, 1), [6667, 6667, 6666], 'forcing never overfills a child');
});

test('the bench client answers the server\'s pings: an idle connection outlives several ping timeouts', { timeout: 30_000 }, async () => {
  const ts = await startTestServer((c) => {
    c.modules.ping = { ping_interval: '100ms', ping_timeout: '200ms' };
  });
  try {
    await createAccount(ts, 'idler', 'pw');
    // The pongs reaching the host, counted ahead of the ping module (which consumes them).
    let pongs = 0;
    ts.server.hosts.get('localhost')!.events.on('iq/host', ({ stanza }) => {
      if (stanza.attrs.type === 'result' && stanza.attrs.id !== undefined) pongs++;
      return false;
    }, 1000);
    const client = await BenchClient.login({ port: ts.c2sPort, domain: 'localhost', username: 'idler', password: 'pw', presence: true });
    const seen: string[] = [];
    client.listen((stanza) => seen.push(stanza));
    try {
      // Ten pongs: about ten ping timeouts of a session that sends nothing else.
      await waitFor(() => pongs >= 10 || client.closed, { timeoutMs: 20_000, intervalMs: 20, message: 'ten pings answered' });
      assert.equal(client.closed, false, 'the server kept the connection');
      assert.equal(ts.server.sessions.getUserSessions('localhost', 'idler').length, 1);
      assert.deepEqual(seen.filter((s) => s.includes('urn:xmpp:ping')), [], 'pings are answered by the client, not passed to the scenario');
    } finally {
      client.close();
    }
  } finally {
    await ts.stop();
  }
});

test('idle through generator children (2 × 2 connections) against Canto; a child\'s failure fails the run', { timeout: 60_000 }, async () => {
  const params = { connections: 4, settleSeconds: 0.2, generators: 2 };
  const server = await canto.start(idleScenario.setup(params)); // one server for every part: each costs a start
  try {
    const result = await idleScenario.run(server, params);
    assert.equal(result.server, 'canto');
    assert.deepEqual(result.notes, ['load generator: 2 child processes (2 + 2 connections); its CPU is theirs plus this process\'s']);
    assert.ok(result.metrics.find((m) => m.name === 'RSS after')!.value > 0);
    assert.ok(result.generator.cpuSeconds > 0.05, 'the children\'s CPU (node start-up, TLS, SCRAM) is counted');
    assert.deepEqual(idleChildren(), [], 'every generator child has exited');

    await assert.rejects(
      ChildGenerators.start({ port: server.port, domain: server.domain, username: server.username, password: 'wrong' }, 0, [2, 2], { presence: true, deadlineMs: 10_000 }),
      /^Error: generator child [12]\/2 \(u[02]…u[13]\): .*not-authorized/,
    );
    assert.deepEqual(idleChildren(), [], 'a failed start stops every child');

    const held = await ChildGenerators.start(server, 0, [2, 2], { presence: true, deadlineMs: 10_000 });
    try {
      assert.deepEqual(idleChildren().sort(), held.pids.sort());
      assert.equal((await held.count()).open, 4);
      process.kill(held.pids[1]!, 'SIGKILL'); // our own child
      await assert.rejects(held.count(), /generator child 2\/2 \(u2…u3\): exited unexpectedly \(SIGKILL\)/);
    } finally {
      await held.close();
    }
    assert.deepEqual(idleChildren(), []);
  } finally {
    await server.stop();
  }
});

test('server RSS and CPU are summed over the process tree, and stopping it leaves no descendant', { timeout: 20_000 }, async () => {
  // A parent that starts a child which burns ~0.3 s of CPU and then holds 64 MiB resident.
  const grandchild = `const t=Date.now();while(Date.now()-t<300){}const b=Buffer.alloc(64*1048576,1);setInterval(()=>b[0]++,1000);process.stdout.write('ready\\n')`;
  const parentScript = `const c=require('node:child_process').spawn(process.execPath,['-e',${JSON.stringify(grandchild)}],{stdio:['ignore','pipe','inherit']});c.stdout.once('data',()=>process.stdout.write(c.pid+'\\n'));setInterval(()=>{},1000)`;
  const parent = spawn(process.execPath, ['-e', parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const childPid = await new Promise<number>((resolve, reject) => {
      parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      parent.once('exit', () => reject(new Error('the test parent exited')));
    });
    const parentPid = parent.pid!;
    assert.deepEqual(processTree(parentPid), [parentPid, childPid]);
    const childRss = rssBytes(childPid);
    assert.ok(childRss > 64 * 1048576, `the child holds its buffer (${childRss})`);
    assert.ok(rssBytes(parentPid) > childRss + 10 * 1048576, 'the parent\'s RSS is its own plus its child\'s');
    assert.ok(cpuSeconds(parentPid) >= cpuSeconds(childPid) + 0.01, 'the parent\'s CPU includes its child\'s');
    assert.ok(cpuSeconds(childPid) >= 0.25);
    // SIGTERM ends the parent only (its child is not told); stopChild must not leave the child behind.
    await stopChild(parent, 500);
    // Gone, or a zombie until whatever adopted it reaps it.
    const state = existsSync(`/proc/${childPid}`) ? /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${childPid}/stat`, 'utf8'))?.[1] : 'gone';
    assert.ok(state === 'gone' || state === 'Z', `the orphaned child was killed (state ${state})`);
  } finally {
    if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
  }
});

test('the 20,000-connection idle set runs on Canto only, and the table says why Prosody did not', () => {
  const big = idleScenario.sizes.full.find((p) => p.connections === 20_000)!;
  assert.equal(big.workers, 2);
  assert.deepEqual(idleScenario.setup(big), { accounts: 20_000, workers: 2 });
  assert.deepEqual(idleScenario.setup(idleScenario.sizes.full[0]!), { accounts: 1000 }, 'single-process sets ask for no workers');
  assert.equal(skipReason('canto', big), undefined);
  assert.equal(skipReason('prosody', idleScenario.sizes.full[2]!), undefined, 'other sets run on both');
  const reason = skipReason('prosody', big, 20_000);
  assert.match(reason ?? '', /^skipped: .*prosody runs as one process, which may hold at most 20000 open files .* 20000 connections; Canto runs it with 2 local Redis nodes$/);

  const rss = { scenario: 'idle', server: 'canto', params: big, metrics: [{ name: 'RSS per connection', value: 50, unit: 'KiB', better: 'lower' as const }], generator: { cpuSeconds: 3, wallSeconds: 2 }, notes: [] };
  const report = reportOf('full', [{ scenario: 'idle', params: big, results: { canto: rss }, errors: {}, skipped: { prosody: reason! } }]);
  const lines = table(report).split('\n');
  assert.match(lines.find((l) => l.includes('RSS per connection'))!, /\|\s+50\.0 \|\s+– \|\s+– \|$/);
  assert.match(lines.find((l) => l.includes('prosody skipped'))!, /Canto-only set/);
  assert.ok(!lines.some((l) => l.includes('failed')));
  assert.ok(!lines.some((l) => l.includes('cantoOnly')), 'the marker is not a parameter worth showing');
});

test('with two peers the table has one column per server and a "Canto ×" ratio per peer', () => {
  const m = (name: string, value: number, better: 'higher' | 'lower') => ({ name, value, unit: 'x', better });
  const res = (server: string, rate: number, p99: number) => ({ scenario: 'messages', server, params: { pairs: 1 }, metrics: [m('messages/s', rate, 'higher'), m('latency p99', p99, 'lower')], generator: { cpuSeconds: 1, wallSeconds: 2 }, notes: [] });
  const report: SuiteReport = {
    ...reportOf('tiny', [{ scenario: 'messages', params: { pairs: 1 }, results: { canto: res('canto', 300, 10), prosody: res('prosody', 100, 20), ejabberd: res('ejabberd', 200, 40) }, errors: {} }]),
    versions: { canto: '0.1.0', prosody: '0.12', ejabberd: '23.01' },
  };
  const lines = table(report).split('\n');
  assert.match(lines[0]!, /\| canto \| prosody \| ejabberd \| Canto × prosody \| Canto × ejabberd \|$/);
  assert.match(lines.find((l) => l.includes('messages/s'))!, /\|\s+300 \|\s+100 \|\s+200 \|\s+3\.00 \|\s+1\.50 \|$/);
  assert.match(lines.find((l) => l.includes('latency p99'))!, /\|\s+10\.0 \|\s+20\.0 \|\s+40\.0 \|\s+2\.00 \|\s+4\.00 \|$/);
  assert.match(lines.find((l) => l.includes('load generator CPU'))!, /50 % \|\s+50 % \|\s+50 % \|\s+\|\s+\|$/);
  // One peer keeps the single "Canto ×" column, whichever peer it is.
  const single = table({ ...report, versions: { canto: '0.1.0', ejabberd: '23.01' } }).split('\n');
  assert.match(single[0]!, /\| canto \| ejabberd \| Canto × \|$/);
  assert.match(single.find((l) => l.includes('messages/s'))!, /\|\s+300 \|\s+200 \|\s+1\.50 \|$/);
  // The issue targets stay Prosody's, from the same report.
  assert.equal(targetLines(report).length, 1);
  // A set ejabberd cannot run equivalently is recorded as skipped, not as Canto-only.
  const skipped: SuiteReport = { ...report, runs: [{ scenario: 'mam', params: { items: 1 }, results: { canto: res('canto', 1, 1) }, errors: {}, skipped: { ejabberd: ejabberdSkipReason({ accounts: 2, mobile: true, archiveFill: { owner: 0, items: 1, correspondents: 1, spanDays: 1 } })! } }] };
  assert.match(table(skipped).split('\n').find((l) => l.includes('ejabberd skipped'))!, /not equivalent \(see notes\)/);
});

test('the ejabberd config asks for what the others run: STARTTLS required, SCRAM-SHA-1 stored, the setup\'s modules', () => {
  const base = ejabberdConfig({ port: 5999, certificate: '/d/c.crt', key: '/d/c.key', sqliteFile: '/d/e.db', setup: { accounts: 3 } });
  for (const line of ['hosts: ["localhost"]', '  - port: 5999', '    ip: "127.0.0.1"', '    starttls_required: true', '    shaper: none', '    backlog: 511', 'auth_password_format: scram', 'auth_scram_hash: sha', 'default_db: mnesia', '  - "/d/c.crt"', '  mod_roster: {}', '  mod_offline: {}', '  mod_ping: {}', '  mod_disco: {}']) {
    assert.ok(base.split('\n').includes(line), `config has ${JSON.stringify(line)}:\n${base}`);
  }
  for (const absent of ['mod_stream_mgmt', 'mod_mam', 'mod_pubsub', 'c2s_limit', 'ejabberd_s2s_in', 'sql_type']) assert.ok(!base.includes(absent), `no ${absent} in the base set`);
  const full = ejabberdConfig({ port: 5999, certificate: '/d/c.crt', key: '/d/c.key', sqliteFile: '/d/e.db', setup: { accounts: 3, mobile: true, pep: true, limits: 'bytes' } });
  for (const name of ['mod_stream_mgmt: {}', 'mod_carboncopy: {}', 'mod_mam:', 'mod_client_state: {}', 'mod_caps: {}', 'mod_pubsub:', '    plugins: ["flat", "pep"]', 'sql_type: sqlite', 'sql_database: "/d/e.db"', '    db_type: sql', '    shaper: c2s_limit', '    rate: 65536', '    burst_size: 1048576']) {
    assert.ok(full.includes(name), `config has ${name}`);
  }
  const seed = ejabberdSeedEval({ accounts: 10, fanoutContacts: 4 }, '/d/ready');
  assert.match(seed, /ejabberd_auth:try_register\(<<"u0">>, H, <<"bench-password">>\)/);
  assert.match(seed, /4096 = element\(6, element\(3, P\)\)/, 'the stored iteration count is checked');
  assert.match(seed, /lists:seq\(1, 10 - 1\)/);
  assert.match(seed, /lists:seq\(1, 4\)/);
  assert.match(seed, /file:write_file\("\/d\/ready", .*\)\.$/);
  assert.equal(ejabberdSkipReason({ accounts: 2, fanoutContacts: 1 }), undefined);
  assert.match(ejabberdSkipReason({ accounts: 2, upload: { maxFileBytes: 1 } }) ?? '', /^skipped: /);
});

test('the table gives no ratio for percentages and counts', () => {
  const m = (name: string, value: number, unit: string) => ({ name, value, unit, better: 'lower' as const });
  const res = (server: string, growth: number, lost: number) => ({
    scenario: 'soak', server, params: { n: 1 }, metrics: [m('RSS growth', growth, '%'), m('lost', lost, 'count'), m('RSS', 10, 'MiB')], generator: { cpuSeconds: 1, wallSeconds: 1 }, notes: [],
  });
  const lines = table(reportOf('tiny', [{ scenario: 'soak', params: { n: 1 }, results: { canto: res('canto', 0.1, 1), prosody: res('prosody', 22.6, 72) }, errors: {} }])).split('\n');
  assert.match(lines.find((l) => l.includes('RSS growth'))!, /\|\s+– \|$/);
  assert.match(lines.find((l) => l.includes('lost'))!, /\|\s+– \|$/);
  assert.match(lines.find((l) => l.includes('RSS (MiB)'))!, /\|\s+1\.00 \|$/);
});

test('the targets check says met or not met from the run', () => {
  const m = (name: string, value: number, unit = 'x', better: 'higher' | 'lower' = 'higher') => ({ name, value, unit, better });
  const res = (server: string, metrics: ReturnType<typeof m>[]) => ({ scenario: 's', server, params: {}, metrics, generator: { cpuSeconds: 1, wallSeconds: 1 }, notes: [] });
  const run = (scenario: string, params: Record<string, number>, canto: ReturnType<typeof m>[], prosody?: ReturnType<typeof m>[]) => ({
    scenario, params, errors: {}, results: { canto: res('canto', canto), ...(prosody ? { prosody: res('prosody', prosody) } : {}) },
  });
  const lines = targetLines(reportOf('full', [
    run('messages', { pairs: 1 }, [m('messages/s', 300), m('latency p99', 50, 'ms', 'lower')], [m('messages/s', 100), m('latency p99', 40, 'ms', 'lower')]),
    run('login', { accounts: 1, tlsResume: 0 }, [m('logins/s', 160)], [m('logins/s', 100)]),
    run('idle', { connections: 1000 }, [m('RSS per connection', 44, 'KiB', 'lower')], [m('RSS per connection', 48, 'KiB', 'lower')]),
    run('idle', { connections: 20_000 }, [m('RSS per connection', 45, 'KiB', 'lower')]),
    run('soak', { connections: 10 }, [m('RSS growth', 12, '%', 'lower'), m('messages undelivered', 0, 'count', 'lower')], [m('RSS growth', 20, '%', 'lower')]),
    run('pep', { contacts: 500 }, [m('notifications/s', 9000), m('publish to last p99', 300, 'ms', 'lower')], [m('notifications/s', 4000), m('publish to last p99', 400, 'ms', 'lower')]),
    run('pep', { contacts: 2000 }, [m('notifications/s', 7000), m('publish to last p99', 300, 'ms', 'lower')], [m('notifications/s', 4000), m('publish to last p99', 400, 'ms', 'lower')]),
    run('muc-join', { users: 1000 }, [m('all joined and seen', 4, 's', 'lower')], [m('all joined and seen', 10, 's', 'lower')]),
    run('muc-messages', { occupants: 500 }, [m('delivered msgs/s', 40000), m('message to all p99', 100, 'ms', 'lower'), m('server CPU per 1k deliveries', 0.01, 's', 'lower')], [m('delivered msgs/s', 10000), m('message to all p99', 300, 'ms', 'lower'), m('server CPU per 1k deliveries', 0.05, 's', 'lower')]),
    run('login-fast', { accounts: 1, tlsResume: 0 }, [m('FAST logins/s', 820)]),
    run('flood', { pairs: 1 }, [m('p99 flood / no flood', 1.05, '×', 'lower'), m('server RSS peak (no flood)', 100, 'MiB', 'lower'), m('server RSS peak (flood)', 120, 'MiB', 'lower')], [m('p99 flood / no flood', 3, '×', 'lower')]),
    run('flood', { pairs: 1, stanzaLimit: 0 }, [m('p99 flood / no flood', 1.4, '×', 'lower'), m('server RSS peak (no flood)', 100, 'MiB', 'lower'), m('server RSS peak (flood)', 100, 'MiB', 'lower')], [m('p99 flood / no flood', 1.6, '×', 'lower')]),
  ]));
  assert.equal(lines.length, 12);
  assert.match(lines[0]!, /^- messages\/s .*3\.00×, p99 50\.0 vs 40\.0 ms: \*\*not met\*\*$/, 'a worse p99 fails the messages target');
  assert.match(lines[1]!, /^- SCRAM logins\/s ≥ 2× .*1\.60×: \*\*not met\*\*$/, 'issue 17 asks 2×');
  assert.match(lines[2]!, /44\.0 vs 48\.0 KiB: \*\*met\*\*$/);
  assert.match(lines[3]!, /^- 20,000 idle TLS connections held .*\*\*met\*\*$/);
  assert.match(lines[4]!, /12\.0 % .*\*\*not met\*\*$/);
  assert.match(lines[5]!, /^- PEP notifications\/s .*contacts=500.*2\.25×, p99 300 vs 400 ms: \*\*met\*\*$/);
  assert.match(lines[6]!, /1\.75×.*\*\*not met\*\*$/, 'below 2× fails the PEP target');
  assert.match(lines[7]!, /^- MUC joins: .*users=1000.*4\.00 vs 10\.0 s, 2\.50×: \*\*not met\*\*$/, 'below 3× fails the join target');
  assert.match(lines[8]!, /^- MUC delivered msgs\/s .*4\.00×, p99 100 vs 300 ms, CPU per 1k deliveries 0\.010 vs 0\.050 s: \*\*met\*\*$/);
  assert.match(lines[9]!, /^- FAST logins\/s .*820\/s, 5\.13× and 8\.20×: \*\*met\*\*$/, 'FAST is compared with the login run of the same TLS resumption');
  assert.match(lines[10]!, /^- a flood .*p99 ×1\.05, RSS peak 100 → 120 MiB: \*\*not met\*\*$/, 'memory raised by 20 % fails');
  assert.match(lines[11]!, /^- for comparison, not the target: .*stanzaLimit=0.*p99 ×1\.40 \(Prosody ×1\.60\), RSS peak 100 → 100 MiB$/, 'bytes-only limits are shown, not checked');
  assert.deepEqual(targetLines({ ...reportOf('tiny', []), versions: { canto: '0.1.0' } }), [], 'no Prosody, no targets');
  const fastOnly = targetLines(reportOf('full', [run('login', { accounts: 1, tlsResume: 0 }, [m('logins/s', 160)], [m('logins/s', 100)]), run('login-fast', { accounts: 1, tlsResume: 0 }, [m('FAST logins/s', 820)])]), 'login-fast');
  assert.equal(fastOnly.length, 1, 'one scenario\'s lines, compared with the other scenarios of the run');
  assert.match(fastOnly[0]!, /^- FAST logins\/s /);
  // The machine's floors, measured in the same run, are named beside the targets they bound.
  const floors = targetLines(reportOf('full', [
    run('login', { accounts: 1, tlsResume: 1 }, [m('logins/s', 700)], [m('logins/s', 240)]),
    run('login-fast', { accounts: 1, tlsResume: 1 }, [m('FAST logins/s', 900), m('floor: TLS handshakes/s (trivial server)', 1200)]),
    run('mam', { items: 1 }, [m('with page p99', 2, 'ms', 'lower'), m('last page p99', 2.5, 'ms', 'lower'), m('floor page p99 (trivial server)', 2.2, 'ms', 'lower')], [m('with page p99', 12, 'ms', 'lower'), m('last page p99', 7, 'ms', 'lower')]),
  ]));
  assert.match(floors[1]!, /900\/s, 1\.29× and 3\.75×; 5× needs 3500\/s, this machine's bare TLS handshakes to a trivial server: 1200\/s \(the target is above it\): \*\*not met\*\*$/);
  assert.match(floors[2]!, /'with' .*6\.00×; 5× needs ≤ 2\.40 ms, this machine's floor for the round trip is p99 2\.20 ms: \*\*met\*\*$/);
  assert.match(floors[3]!, /'last' .*2\.80×; 5× needs ≤ 1\.40 ms, this machine's floor for the round trip is p99 2\.20 ms \(the target is below it\): \*\*not met\*\*$/);
});

test('RESULTS.md keeps a section per scenario: a run replaces its own and keeps the others', () => {
  const m = (name: string, value: number) => ({ name, value, unit: 'ms', better: 'lower' as const });
  const run = (scenario: string, value: number) => ({
    scenario, params: { n: 1 }, errors: {}, results: { canto: { scenario, server: 'canto', params: {}, metrics: [m('p99', value)], generator: { cpuSeconds: 1, wallSeconds: 1 }, notes: [] } },
  });
  const first = resultsMarkdown({ ...reportOf('small', [run('mam', 5), run('login', 7)]), date: 'day one' }, 'npm run bench -- --scenario mam,login');
  assert.deepEqual([...resultSections(first).keys()], ['login', 'mam'], 'suite order, not run order');
  const second = resultsMarkdown({ ...reportOf('full', [run('mam', 3)]), date: 'day two' }, 'npm run bench -- --scenario mam', first);
  const sections = resultSections(second);
  assert.deepEqual([...sections.keys()], ['login', 'mam']);
  assert.match(sections.get('mam')!, /day two/);
  assert.match(sections.get('mam')!, /\| p99 \(ms\)\s+\|\s+3\.00 \|/);
  assert.doesNotMatch(sections.get('mam')!, /day one/);
  assert.equal(sections.get('login'), resultSections(first).get('login'), 'the login section is kept as it was');
  assert.equal(second.match(/^# Benchmark results/gm)?.length, 1);
});
