/**
 * Issue 17: the ad-hoc commands through a second client stack, slixmpp (Debian python3-slixmpp,
 * its xep_0050 and xep_0133 plugins; the agent is slixmpp_adhoc.py): an admin runs every
 * XEP-0133 command, a user runs the user commands and is refused the admin ones, and forms
 * with a missing or malformed field are refused. Table-driven; in CI a missing slixmpp fails.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createAccount, loginClient, type LoggedInClient } from '../helpers/xmpp-client.js';
import { runSlixmppScript, slixmppSkip, writeServerCa, type AgentEvent } from '../helpers/slixmpp.js';

const skip = slixmppSkip();
const ADMIN = 'http://jabber.org/protocol/admin';

let ts: TestServer;
let caFile: string;
let online: LoggedInClient | undefined;

before(async () => {
  if (skip) return;
  ts = await startTestServer((c) => {
    c.admins = ['boss@localhost'];
  });
  for (const u of ['boss', 'worker', 'target']) await createAccount(ts, u, `${u}-pass`);
  caFile = writeServerCa(ts);
  online = await loginClient(ts, 'target', 'target-pass', 'desk');
});
after(async () => {
  if (skip) return;
  await online?.stop();
  await ts.stop();
});

interface Case {
  name: string;
  node: string;
  fields: Record<string, string | string[]> | null;
  form_type?: string;
  expect: string;
  check?: (e: AgentEvent) => void | Promise<void>;
}

async function run(user: string, cases: Case[]): Promise<{ commands: string[]; results: Map<string, AgentEvent> }> {
  const args = ['--jid', `${user}@localhost/slix`, '--password', `${user}-pass`, '--port', String(ts.c2sPort), '--ca', caFile,
    '--cases', JSON.stringify(cases.map(({ name, node, fields, form_type }) => ({ name, node, fields, form_type })))];
  const { events, stderr } = await runSlixmppScript('slixmpp_adhoc.py', args, 60_000);
  assert.ok(events.some((e) => e.event === 'done'), `the agent finished; stderr: ${stderr}`);
  const commands = (events.find((e) => e.event === 'commands')?.nodes as string[] | undefined) ?? [];
  const results = new Map(events.filter((e) => e.event === 'case').map((e) => [String(e.name), e]));
  for (const c of cases) {
    const r = results.get(c.name);
    assert.ok(r, `${c.name}: no result`);
    const got = r.type === 'error' ? `error:${String(r.condition)}` : String(r.status);
    assert.equal(got, c.expect, `${c.name}: ${JSON.stringify(r)}`);
    await c.check?.(r);
  }
  return { commands, results };
}

const admin = (name: string, fields: Case['fields'], expect = 'completed', check?: Case['check']): Case => ({ name, node: name, fields, form_type: ADMIN, expect, check });

test('an admin runs every XEP-0133 command with slixmpp', { skip, timeout: 90_000 }, async () => {
  const fields = (e: AgentEvent) => e.fields as Record<string, string[]>;
  const { commands } = await run('boss', [
    // Checks run once the agent is done, so they look at what each command answered, not at state a later case changes.
    admin('add-user', { accountjid: 'slixnew@localhost', password: 'slix-pw', 'password-verify': 'slix-pw' }, 'completed', (e) => assert.match(String(e.notes), /slixnew@localhost created/)),
    admin('change-user-password', { accountjid: 'slixnew@localhost', password: 'slix-pw-2' }),
    admin('get-online-users-list', null, 'completed', (e) => assert.match(JSON.stringify(fields(e).onlineuserjids), /target@localhost/, JSON.stringify(e))),
    { name: 'user statistics', node: `${ADMIN}#get-user-statistics`, fields: { accountjid: 'target@localhost' }, form_type: ADMIN, expect: 'completed', check: (e: AgentEvent) => assert.deepEqual(fields(e).onlineresources, ['desk']) },
    admin('announce', { subject: 'Hello', announcement: 'from slixmpp' }, 'completed', async () => {
      const m = await online?.waitFor((s) => s.is('message') && s.attrs.type === 'headline');
      assert.equal(m?.getChildText('body'), 'from slixmpp');
    }),
    admin('disable-user', { accountjids: ['slixnew@localhost'] }, 'completed', (e) => assert.match(String(e.notes), /accounts disabled: slixnew@localhost/)),
    admin('reenable-user', { accountjids: ['slixnew@localhost'] }),
    admin('end-user-session', { accountjids: ['target@localhost'] }),
    admin('delete-user', { accountjids: ['slixnew@localhost'] }, 'completed', async () => {
      assert.equal(await ts.server.storage.accounts.exists('localhost', 'slixnew'), false);
    }),
    // Malformed forms
    admin('add-user', { accountjid: 'half@localhost' }, 'error:bad-request'),
    { ...admin('disable-user', { accountjids: ['not a jid@@'] }, 'error:bad-request'), name: 'bad jid' },
    { ...admin('delete-user', { accountjids: ['ghost@localhost'] }, 'error:item-not-found'), name: 'unknown account' },
  ].map((c, i) => ({ ...c, name: `${i}:${c.name}` })));
  assert.ok(commands.includes(`${ADMIN}#add-user`));
});

test('a user runs the user commands and is refused the admin ones', { skip, timeout: 90_000 }, async () => {
  const { commands } = await run('worker', [
    { name: 'change password', node: 'urn:canto:adhoc:change-password', fields: { password: 'worker-pass-2', 'password-verify': 'worker-pass-2' }, expect: 'completed' },
    { name: 'passwords differ', node: 'urn:canto:adhoc:change-password', fields: { password: 'a', 'password-verify': 'b' }, expect: 'error:not-acceptable' },
    ...['add-user', 'delete-user', 'disable-user', 'reenable-user', 'change-user-password', 'get-online-users-list', 'end-user-session', 'announce'].map((n) => ({ ...admin(n, null, 'error:forbidden'), name: `forbidden ${n}` })),
  ]);
  assert.ok(commands.includes('urn:canto:adhoc:change-password'));
  assert.ok(!commands.some((n) => n.startsWith(ADMIN)));
});
