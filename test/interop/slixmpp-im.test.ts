/**
 * Issue 4, interop: the IM flows with slixmpp (Debian python3-slixmpp, /usr/bin/python3) as the
 * client: the subscription handshake and presence, roster pushes, unsubscribe; bare-JID message
 * routing by priority, offline delivery with a XEP-0203 stamp, service-unavailable for a user that
 * does not exist; disco, ping, version, vCard and blocking through slixmpp's own plugins.
 *
 * Each slixmpp client is a `slixmpp_agent.py` process driven by JSON lines (see its docstring),
 * so one test can move several clients step by step. In CI a missing slixmpp fails the file
 * (scripts/install-test-deps.sh installs it); elsewhere the tests are skipped with a message.
 * CANTO_TEST_SLIXMPP_DEBUG=1 puts slixmpp's debug log (the XML both ways) in failure messages.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount } from '../helpers/xmpp-client.js';
import { Wakeup } from '../../src/testing/wakeup.js';
import { PYTHON, slixmppSkip, writeServerCa } from '../helpers/slixmpp.js';
import { cantoVersion } from '../../src/modules/version/index.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCanto } from '../helpers/cli.js';

const PASSWORD = 'slix-im-pässword';
// Compiled to dist*/test/interop/; the script stays in the source tree.
const AGENT = fileURLToPath(new URL('../../../test/interop/slixmpp_agent.py', import.meta.url));

const skip = slixmppSkip();

/** One JSON line from the agent. */
interface AgentEvent {
  event: string;
  [key: string]: unknown;
}
/** The agent's answer to one command. */
interface CommandResult extends AgentEvent {
  ok: boolean;
  condition?: string;
}

/** One slixmpp client process, and what it reported. */
class SlixAgent {
  /** Everything reported, for failure messages. */
  readonly log: AgentEvent[] = [];
  /** Reported and not yet taken by waitFor(). */
  private readonly unread: AgentEvent[] = [];
  private readonly wakeup = new Wakeup();
  private stderr = '';
  private nextId = 0;
  exited = false;

  private constructor(
    readonly jid: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.push(this.parse(line));
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.stdin.on('error', () => {}); // EPIPE after the process died: the waits report it
    child.on('exit', () => {
      this.exited = true;
      this.wake();
    });
  }

  /** Start the client and wait until its session has started (bound; no presence, no roster). */
  static async start(ts: TestServer, caFile: string, user: string, resource: string): Promise<SlixAgent> {
    const jid = `${user}@localhost/${resource}`;
    const args = [AGENT, '--jid', jid, '--password', PASSWORD, '--port', String(ts.c2sPort), '--ca', caFile, '--lifetime', '60'];
    if (process.env.CANTO_TEST_SLIXMPP_DEBUG) args.push('--debug');
    const agent = new SlixAgent(jid, spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    agents.push(agent);
    const started = await agent.waitFor((e) => e.event === 'session_start' || e.event === 'failed', 15_000);
    assert.equal(started.event, 'session_start', agent.diagnostics());
    assert.equal(started.jid, jid);
    return agent;
  }

  private parse(line: string): AgentEvent {
    try {
      return JSON.parse(line) as AgentEvent;
    } catch {
      return { event: 'unparsed', line };
    }
  }

  private push(e: AgentEvent): void {
    this.log.push(e);
    this.unread.push(e);
    this.wake();
  }

  private wake(): void {
    this.wakeup.wake();
  }

  diagnostics(): string {
    return `${this.jid}: events ${JSON.stringify(this.log)}\nstderr: ${this.stderr.slice(-20_000)}`;
  }

  /** Take the first unread event matching `match`, waiting up to `ms` for it. */
  async waitFor(match: (e: AgentEvent) => boolean, ms = 5000): Promise<AgentEvent> {
    const failure = (reason: string) => new Error(`${reason}\n${this.diagnostics()}`);
    return this.wakeup.until(() => {
      const i = this.unread.findIndex(match);
      if (i >= 0) return this.unread.splice(i, 1)[0] as AgentEvent;
      if (this.exited) throw failure('agent exited');
      return undefined;
    }, ms, () => failure(`nothing matching within ${ms} ms`));
  }

  /** True when nothing matching arrives within `ms`. */
  async nothing(match: (e: AgentEvent) => boolean, ms = 400): Promise<boolean> {
    return this.waitFor(match, ms).then(
      () => false,
      () => true,
    );
  }

  /** Send a command and return the agent's result for it (ok or not). */
  async command(op: string, args: Record<string, unknown> = {}, ms = 8000): Promise<CommandResult> {
    const id = `c${++this.nextId}`;
    this.child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    return (await this.waitFor((e) => e.event === 'result' && e.id === id, ms)) as CommandResult;
  }

  /** A command that must succeed. */
  async ok(op: string, args: Record<string, unknown> = {}): Promise<CommandResult> {
    const r = await this.command(op, args);
    assert.equal(r.ok, true, `${op} ${JSON.stringify(args)} failed: ${JSON.stringify(r)}\n${this.diagnostics()}`);
    return r;
  }

  /** A command that must fail with `condition`. */
  async fails(op: string, args: Record<string, unknown>, condition: string): Promise<void> {
    const r = await this.command(op, args);
    assert.equal(r.ok, false, `${op} ${JSON.stringify(args)} should fail\n${this.diagnostics()}`);
    assert.equal(r.condition, condition, `${op} ${JSON.stringify(args)}: ${JSON.stringify(r)}`);
  }

  /** Send available presence and wait for the server's copy to this resource (so it is in effect). */
  async available(fields: { priority?: number; show?: string; status?: string } = {}): Promise<void> {
    await this.ok('presence', fields);
    await this.waitFor((e) => isPresence(e, this.jid) && (fields.status === undefined || e.status === fields.status));
  }

  /** Close the stream cleanly; kill the process if it does not end within 3 s. */
  async quit(): Promise<void> {
    if (this.exited) return;
    this.child.stdin.write(`${JSON.stringify({ id: 'quit', op: 'quit' })}\n`);
    await this.waitFor((e) => e.event === 'exit', 3000).catch(() => this.kill());
  }

  kill(): void {
    if (!this.exited && this.child.pid !== undefined) process.kill(this.child.pid, 'SIGKILL');
  }
}

/** Every agent started by this file, killed in after() whatever happened. */
const agents: SlixAgent[] = [];

const isPresence = (e: AgentEvent, from: string, type: string | null = null): boolean => e.event === 'presence' && e.from === from && e.type === type;
const rosterPush = (jid: string, check: (item: RosterItem) => boolean) => (e: AgentEvent) =>
  e.event === 'roster_push' && (e.items as RosterItem[]).some((i) => i.jid === jid && check(i));
interface RosterItem {
  jid: string;
  subscription: string;
  ask: string | null;
}
const message = (from: string, body: string) => (e: AgentEvent) => e.event === 'message' && e.from === from && e.body === body;

let ts: TestServer;
let caFile: string;
before(async () => {
  if (skip) return;
  ts = await startTestServer();
  for (const u of ['alice', 'bob', 'romeo', 'juliet', 'dave', 'mercutio', 'tybalt', 'benvolio', 'paris']) await createAccount(ts, u, PASSWORD);
  caFile = writeServerCa(ts);
});
after(async () => {
  for (const a of agents) a.kill();
  if (!skip) await ts.stop();
});

const start = (user: string, resource: string) => SlixAgent.start(ts, caFile, user, resource);

test('slixmpp: subscription handshake both ways, presence, pushes to a third resource, unsubscribe', { skip, timeout: 40_000 }, async () => {
  const [alice, aliceTablet, bob] = await Promise.all([start('alice', 'desk'), start('alice', 'tablet'), start('bob', 'phone')]);
  for (const a of [alice, aliceTablet, bob]) await a.ok('roster');
  await alice.available();
  await bob.available();

  // alice asks, bob approves: alice sees bob; her tablet (interested, not available) gets the pushes.
  await alice.ok('subscription', { to: 'bob@localhost', type: 'subscribe' });
  await aliceTablet.waitFor(rosterPush('bob@localhost', (i) => i.ask === 'subscribe'));
  await bob.waitFor((e) => isPresence(e, 'alice@localhost', 'subscribe'));
  await bob.ok('subscription', { to: 'alice@localhost', type: 'subscribed' });
  await aliceTablet.waitFor(rosterPush('bob@localhost', (i) => i.subscription === 'to'));
  await alice.waitFor((e) => isPresence(e, 'bob@localhost/phone'));
  await bob.waitFor(rosterPush('alice@localhost', (i) => i.subscription === 'from'));

  // And the other way round.
  await bob.ok('subscription', { to: 'alice@localhost', type: 'subscribe' });
  await alice.waitFor((e) => isPresence(e, 'bob@localhost', 'subscribe'));
  await alice.ok('subscription', { to: 'bob@localhost', type: 'subscribed' });
  await aliceTablet.waitFor(rosterPush('bob@localhost', (i) => i.subscription === 'both'));
  await bob.waitFor(rosterPush('alice@localhost', (i) => i.subscription === 'both'));
  await bob.waitFor((e) => isPresence(e, 'alice@localhost/desk'));
  assert.ok(await aliceTablet.nothing((e) => e.event === 'presence' && e.from === 'bob@localhost/phone'), 'no presence to a resource that sent none');

  await alice.ok('presence', { show: 'chat', status: 'hi bob' });
  const update = await bob.waitFor((e) => isPresence(e, 'alice@localhost/desk') && e.status === 'hi bob');
  assert.equal(update.show, 'chat');
  const roster = await bob.ok('roster');
  assert.deepEqual(roster.items, [{ jid: 'alice@localhost', subscription: 'both', ask: null }]);
  assert.deepEqual(roster.kept, roster.items, "slixmpp's roster, built from the pushes, agrees");

  // bob unsubscribes: alice's presence stops reaching him.
  await bob.ok('subscription', { to: 'alice@localhost', type: 'unsubscribe' });
  await bob.waitFor((e) => isPresence(e, 'alice@localhost/desk', 'unavailable'));
  await aliceTablet.waitFor(rosterPush('bob@localhost', (i) => i.subscription === 'to'));
  await alice.waitFor(rosterPush('bob@localhost', (i) => i.subscription === 'to'));
  await alice.available({ status: 'after' });
  assert.ok(await bob.nothing((e) => e.event === 'presence' && e.from === 'alice@localhost/desk'), 'presence after unsubscribe');
  // bob is still a contact alice subscribes to: his presence reaches her.
  await bob.available({ status: 'still here' });
  await alice.waitFor((e) => isPresence(e, 'bob@localhost/phone') && e.status === 'still here');

  await Promise.all([alice, aliceTablet, bob].map((a) => a.quit()));
});

test('slixmpp: bare-JID messages go to the top priority; offline delivery with a delay stamp; unknown user', { skip, timeout: 40_000 }, async () => {
  const [romeo, a, b, c] = await Promise.all([start('romeo', 'garden'), start('juliet', 'a'), start('juliet', 'b'), start('juliet', 'c')]);
  await romeo.available();
  await a.available({ priority: 5 });
  await b.available({ priority: 5 });
  await c.available({ priority: 1 });

  await romeo.ok('message', { to: 'juliet@localhost', body: 'to the top' });
  await a.waitFor(message('romeo@localhost/garden', 'to the top'));
  await b.waitFor(message('romeo@localhost/garden', 'to the top'));
  assert.ok(await c.nothing((e) => e.event === 'message'), 'a lower priority resource gets nothing');
  await romeo.ok('message', { to: 'juliet@localhost/c', body: 'just you' });
  const direct = await c.waitFor(message('romeo@localhost/garden', 'just you'));
  assert.equal(direct.type, 'chat');
  assert.equal(direct.delay, null, 'live delivery has no delay stamp');

  // dave has never logged in: the message waits for his first available presence.
  const sentAt = Date.now();
  await romeo.ok('message', { to: 'dave@localhost', body: 'while you were away' });
  assert.ok(await romeo.nothing((e) => e.event === 'message_error'), 'stored, not bounced');
  const dave = await start('dave', 'home');
  assert.ok(await dave.nothing((e) => e.event === 'message', 300), 'nothing before initial presence');
  await dave.ok('presence');
  const stored = await dave.waitFor(message('romeo@localhost/garden', 'while you were away'));
  const delay = stored.delay as { stamp: string | null; from: string } | null;
  assert.ok(delay, `a XEP-0203 delay element: ${JSON.stringify(stored)}`);
  assert.equal(delay.from, 'localhost');
  assert.ok(delay.stamp, 'slixmpp parsed the stamp');
  const stamp = Date.parse(delay.stamp);
  assert.ok(stamp >= sentAt - 1000 && stamp <= Date.now(), `stamp ${delay.stamp} is when the message was stored`);

  await romeo.ok('message', { to: 'nobody@localhost', body: 'anyone?' });
  const bounce = await romeo.waitFor((e) => e.event === 'message_error');
  assert.equal(bounce.from, 'nobody@localhost');
  assert.equal(bounce.condition, 'service-unavailable');

  await Promise.all([romeo, a, b, c, dave].map((x) => x.quit()));
});

test('slixmpp plugins: disco#info, ping, version, vCard and blocking, with an error case each', { skip, timeout: 40_000 }, async () => {
  const [mercutio, tybalt] = await Promise.all([start('mercutio', 'street'), start('tybalt', 'square')]);

  // xep_0030
  const info = await mercutio.ok('disco_info', { to: 'localhost' });
  const identities = info.identities as string[][];
  assert.ok(identities.some(([category, type]) => category === 'server' && type === 'im'), JSON.stringify(identities));
  const features = info.features as string[];
  for (const f of ['http://jabber.org/protocol/disco#info', 'urn:xmpp:ping', 'jabber:iq:version', 'vcard-temp', 'urn:xmpp:blocking', 'msgoffline']) {
    assert.ok(features.includes(f), `${f} in ${JSON.stringify(features)}`);
  }
  const own = await mercutio.ok('disco_info', { to: 'mercutio@localhost' });
  assert.ok((own.identities as string[][]).some(([category, type]) => category === 'account' && type === 'registered'));
  await mercutio.fails('disco_info', { to: 'tybalt@localhost' }, 'service-unavailable'); // not a contact

  // xep_0199
  assert.equal((await mercutio.ok('ping', { to: 'localhost' })).type, 'result');
  await mercutio.fails('ping', { to: 'nobody@localhost' }, 'service-unavailable');

  // xep_0092
  const version = await mercutio.ok('version', { to: 'localhost' });
  assert.equal(version.name, 'Canto');
  assert.equal(version.version, cantoVersion());
  assert.equal(version.os, null, 'the OS is hidden by default');
  await mercutio.fails('version', { to: 'nobody@localhost' }, 'service-unavailable');

  // xep_0054
  await mercutio.ok('vcard_set', { fn: 'Mercutio della Scala', nickname: ['merc'] });
  assert.deepEqual(pick(await mercutio.ok('vcard_get', { to: 'mercutio@localhost' })), { fn: 'Mercutio della Scala', nickname: ['merc'] });
  assert.deepEqual(pick(await tybalt.ok('vcard_get', { to: 'mercutio@localhost' })), { fn: 'Mercutio della Scala', nickname: ['merc'] });
  await mercutio.fails('vcard_get', { to: 'tybalt@localhost' }, 'item-not-found');
  await tybalt.fails('vcard_set', { to: 'mercutio@localhost', fn: 'Prince of Cats', nickname: 'x' }, 'forbidden');

  // xep_0191, with its effect on messages both ways
  await mercutio.available();
  await tybalt.available();
  assert.deepEqual((await mercutio.ok('blocklist')).jids, []);
  await mercutio.ok('block', { jids: ['tybalt@localhost'] });
  const push = await mercutio.waitFor((e) => e.event === 'block_push');
  assert.deepEqual(push.jids, ['tybalt@localhost']);
  assert.deepEqual((await mercutio.ok('blocklist')).jids, ['tybalt@localhost']);
  await mercutio.fails('block', { jids: [] }, 'bad-request');

  await tybalt.ok('message', { to: 'mercutio@localhost', body: 'a word with you' });
  const inbound = await tybalt.waitFor((e) => e.event === 'message_error');
  assert.equal(inbound.condition, 'service-unavailable');
  await mercutio.ok('message', { to: 'tybalt@localhost', body: 'and a blow' });
  const outbound = await mercutio.waitFor((e) => e.event === 'message_error');
  assert.equal(outbound.condition, 'not-acceptable');
  assert.ok(await mercutio.nothing((e) => e.event === 'message'), 'nothing from a blocked contact');

  await mercutio.ok('unblock', { jids: ['tybalt@localhost'] });
  await mercutio.waitFor((e) => e.event === 'unblock_push');
  assert.deepEqual((await mercutio.ok('blocklist')).jids, []);
  await tybalt.ok('message', { to: 'mercutio@localhost', body: 'peace' });
  await mercutio.waitFor(message('tybalt@localhost/square', 'peace'));

  await Promise.all([mercutio, tybalt].map((x) => x.quit()));
});

function pick(r: CommandResult): { fn: unknown; nickname: unknown } {
  return { fn: r.fn, nickname: r.nickname };
}

test('slixmpp: a XEP-0377 report (slixmpp\'s xep_0377 plugin) blocks the sender and shows up in `canto reports` with the message', { skip, timeout: 40_000 }, async () => {
  const [benvolio, paris] = await Promise.all([start('benvolio', 'street'), start('paris', 'church')]);
  await benvolio.available();
  await paris.ok('message', { to: 'benvolio@localhost', body: 'cheap rings, ask me how' });
  await benvolio.waitFor(message('paris@localhost/church', 'cheap rings, ask me how'));
  // slixmpp 1.8.3 sends the urn:xmpp:reporting:0 form: <report><spam/><text/></report> in the <block/>.
  await benvolio.ok('report', { jid: 'paris@localhost', reason: 'spam', text: 'ring spam' });
  assert.deepEqual((await benvolio.ok('blocklist')).jids, ['paris@localhost']);

  const cfg = join(ts.dataDir, 'reports.toml');
  writeFileSync(cfg, `data_dir = ${JSON.stringify(ts.dataDir)}\nlog_level = "warn"\n\n[[virtualhost]]\ndomain = "localhost"\n`);
  const listed = await runCanto(['reports', 'list', '--json', '--config', cfg]);
  assert.equal(listed.code, 0, listed.stderr);
  const reports = JSON.parse(listed.stdout) as Array<{ id: string; jid: string; reporter: string; reason: string; text?: string; evidence?: { source: string; stanza: string } }>;
  const report = reports.find((r) => r.jid === 'paris@localhost');
  assert.ok(report, listed.stdout);
  assert.equal(report.reporter, 'benvolio@localhost');
  assert.equal(report.reason, 'spam');
  assert.equal(report.text, 'ring spam');
  // No ids in the old form: the latest message from the reported JID in the archive.
  assert.equal(report.evidence?.source, 'archive');
  assert.match(report.evidence.stanza, /cheap rings, ask me how/);
  const shown = await runCanto(['reports', 'show', report.id, '--config', cfg]);
  assert.match(shown.stdout, /body: cheap rings, ask me how/);

  await Promise.all([benvolio, paris].map((x) => x.quit()));
});
