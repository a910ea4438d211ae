/**
 * The push module's pure parts: what is important (table-driven), the forms and the publish iq,
 * back-off, the trace's bounds, <enable/>/<disable/> parsing with its errors, and the text
 * `canto push-trace` prints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Element } from '../../src/xml/element.js';
import { parseXmlFragment } from '../../src/xml/parse-fragment.js';
import { importance, mentions, type ImportanceContext } from '../../src/modules/push/importance.js';
import { parsePublishOptions, publishIq, preview, summaryForm, MAX_BODY_PREVIEW, BadForm } from '../../src/modules/push/form.js';
import { retryDelay } from '../../src/modules/push/backoff.js';
import { PushTrace, type TraceEntry } from '../../src/modules/push/trace.js';
import { parseDisable, parseEnable } from '../../src/modules/push/requests.js';
import { StanzaError } from '../../src/core/errors.js';
import { Deadlines } from '../../src/modules/push/deadlines.js';
import { formatEntry, formatPushTrace, mergeResults } from '../../src/cli/push-trace.js';
import { describeRegistration } from '../../src/modules/push/registrations.js';

const x = (xml: string): Element => parseXmlFragment(xml);
const ctx: ImportanceContext = { username: 'juliet', nickIn: (room) => (room === 'room@muc.example' ? 'Jules' : undefined) };

const C = "xmlns='jabber:client'";
const cases: Array<[string, string, string | false]> = [
  // [what, stanza, expected kind or false]
  ['chat with a body', `<message ${C} type='chat' from='romeo@example.com/a'><body>hi</body></message>`, 'message'],
  ['normal message (no type) with a body', `<message ${C} from='romeo@example.com'><body>hi</body></message>`, 'message'],
  ['a body of only spaces', `<message ${C} type='chat' from='romeo@example.com'><body>  </body></message>`, false],
  ['chat state only', `<message ${C} type='chat' from='romeo@example.com'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false],
  ['receipt', `<message ${C} from='romeo@example.com'><received xmlns='urn:xmpp:receipts' id='x'/></message>`, false],
  ['chat marker', `<message ${C} from='romeo@example.com'><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`, false],
  ['OMEMO (legacy), with its fallback body', `<message ${C} type='chat' from='romeo@example.com'><encrypted xmlns='eu.siacs.conversations.axolotl'/><body>I sent you an OMEMO message</body></message>`, 'encrypted'],
  ['OMEMO 2', `<message ${C} type='chat' from='romeo@example.com'><encrypted xmlns='urn:xmpp:omemo:2'/></message>`, 'encrypted'],
  ['OX (XEP-0373)', `<message ${C} type='chat' from='romeo@example.com'><openpgp xmlns='urn:xmpp:openpgp:0'>…</openpgp></message>`, 'encrypted'],
  ['legacy OpenPGP (XEP-0027)', `<message ${C} type='chat' from='romeo@example.com'><x xmlns='jabber:x:encrypted'>…</x><body>enc</body></message>`, 'encrypted'],
  ['OTR', `<message ${C} type='chat' from='romeo@example.com'><body>?OTR:AAMDxyz</body></message>`, 'encrypted'],
  ['EME marker', `<message ${C} type='chat' from='romeo@example.com'><encryption xmlns='urn:xmpp:eme:0' namespace='urn:example'/></message>`, 'encrypted'],
  ['call proposal (XEP-0353)', `<message ${C} type='chat' from='romeo@example.com/phone'><propose xmlns='urn:xmpp:jingle-message:0' id='c1'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>`, 'call'],
  ['call retraction', `<message ${C} type='chat' from='romeo@example.com/phone'><retract xmlns='urn:xmpp:jingle-message:0' id='c1'/></message>`, false],
  ['subscription request', `<presence ${C} type='subscribe' from='romeo@example.com'/>`, 'subscription'],
  ['subscription approval', `<presence ${C} type='subscribed' from='romeo@example.com'/>`, false],
  ['presence update', `<presence ${C} from='romeo@example.com/a'><show>away</show></presence>`, false],
  ['iq', `<iq ${C} type='get' id='1' from='romeo@example.com/a'><ping xmlns='urn:xmpp:ping'/></iq>`, false],
  ['error message', `<message ${C} type='error' from='romeo@example.com'><body>hi</body></message>`, false],
  ['headline (PEP event)', `<message ${C} type='headline' from='romeo@example.com'><body>news</body></message>`, false],
  ['groupchat mentioning the room nick', `<message ${C} type='groupchat' from='room@muc.example/romeo'><body>hey jules, look</body></message>`, 'mention'],
  ['groupchat mentioning the nick inside a word', `<message ${C} type='groupchat' from='room@muc.example/romeo'><body>julesverne</body></message>`, false],
  ['groupchat without a mention', `<message ${C} type='groupchat' from='room@muc.example/romeo'><body>hello all</body></message>`, false],
  ["groupchat: the user's own message echoed", `<message ${C} type='groupchat' from='room@muc.example/Jules'><body>Jules here</body></message>`, false],
  ['groupchat in a room with no known nick: the local part', `<message ${C} type='groupchat' from='other@muc.example/romeo'><body>juliet?</body></message>`, 'mention'],
  ['received carbon of a chat', `<message ${C} from='juliet@example.com'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message ${C} type='chat' from='romeo@example.com/a'><body>hi</body></message></forwarded></received></message>`, 'message'],
  ['received carbon of a chat state', `<message ${C} from='juliet@example.com'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message ${C} type='chat' from='romeo@example.com/a'><active xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></received></message>`, false],
  ['sent carbon', `<message ${C} from='juliet@example.com'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message ${C} type='chat' to='romeo@example.com'><body>hi</body></message></forwarded></sent></message>`, false],
  ['archive query result', `<message ${C} from='juliet@example.com'><result xmlns='urn:xmpp:mam:2' id='1'><forwarded xmlns='urn:xmpp:forward:0'><message ${C} type='chat'><body>old</body></message></forwarded></result></message>`, false],
];

for (const [what, xml, expected] of cases) {
  test(`importance: ${what} → ${expected === false ? 'not important' : expected}`, () => {
    const imp = importance(x(xml), ctx);
    if (expected === false) {
      assert.equal(imp.important, false, JSON.stringify(imp));
      assert.ok(!imp.important && imp.reason.length > 0, 'says why');
    } else {
      assert.ok(imp.important, JSON.stringify(imp));
      assert.equal(imp.important && imp.kind, expected);
    }
  });
}

test('importance: senders are bare (a mention keeps the occupant); encrypted messages and calls carry no body', () => {
  const chat = importance(x(`<message ${C} type='chat' from='romeo@example.com/a'><body>hi</body></message>`), ctx);
  assert.deepEqual(chat, { important: true, kind: 'message', sender: 'romeo@example.com', body: 'hi' });
  const omemo = importance(x(`<message ${C} type='chat' from='romeo@example.com/a'><encrypted xmlns='eu.siacs.conversations.axolotl'/><body>fallback</body></message>`), ctx);
  assert.deepEqual(omemo, { important: true, kind: 'encrypted', sender: 'romeo@example.com' });
  const mention = importance(x(`<message ${C} type='groupchat' from='room@muc.example/romeo'><body>Jules!</body></message>`), ctx);
  assert.deepEqual(mention, { important: true, kind: 'mention', sender: 'room@muc.example/romeo', body: 'Jules!' });
});

test('mentions: whole words, any case, unicode letters count as word characters', () => {
  assert.equal(mentions('Hi Jules.', 'jules'), true);
  assert.equal(mentions('@jules: ok', 'Jules'), true);
  assert.equal(mentions('jules', 'jules'), true);
  assert.equal(mentions('julesé', 'jules'), false);
  assert.equal(mentions('ajules', 'jules'), false);
  assert.equal(mentions('ajules jules', 'jules'), true);
  assert.equal(mentions('anything', ''), false);
});

test('summary form: message-count always, the rest only when given', () => {
  assert.equal(
    summaryForm({ messageCount: 2, subscriptionCount: 0 }).toString(),
    "<x xmlns=\"jabber:x:data\" type=\"submit\"><field var=\"FORM_TYPE\"><value>urn:xmpp:push:summary</value></field><field var=\"message-count\"><value>2</value></field></x>",
  );
  const full = summaryForm({ messageCount: 1, subscriptionCount: 1, lastSender: 'romeo@example.com', lastBody: 'a < b' });
  const fields = Object.fromEntries(full.getChildren('field').map((f) => [f.attrs.var, f.getChildText('value')]));
  assert.deepEqual(fields, {
    FORM_TYPE: 'urn:xmpp:push:summary',
    'message-count': '1',
    'pending-subscription-count': '1',
    'last-message-sender': 'romeo@example.com',
    'last-message-body': 'a < b',
  });
});

test('publish iq: XEP-0357 §7 shape, from the bare JID, publish-options with the secret', () => {
  const stanza = publishIq({ id: 'p1', from: 'juliet@example.com', to: 'push.example.net', node: 'n1', summary: { messageCount: 1, subscriptionCount: 0 }, publishOptions: [['secret', ['s3cr3t']]] });
  assert.equal(stanza.attrs.type, 'set');
  assert.equal(stanza.attrs.from, 'juliet@example.com');
  const pubsub = stanza.getChild('pubsub', 'http://jabber.org/protocol/pubsub');
  assert.equal(pubsub?.getChild('publish')?.attrs.node, 'n1');
  const notification = pubsub?.getChild('publish')?.getChild('item')?.getChild('notification', 'urn:xmpp:push:0');
  assert.ok(notification?.getChild('x', 'jabber:x:data'));
  const opts = pubsub?.getChild('publish-options')?.getChild('x', 'jabber:x:data');
  assert.equal(opts?.attrs.type, 'submit');
  const values = Object.fromEntries((opts?.getChildren('field') ?? []).map((f) => [f.attrs.var, f.getChildText('value')]));
  assert.deepEqual(values, { FORM_TYPE: 'http://jabber.org/protocol/pubsub#publish-options', secret: 's3cr3t' });
  const none = publishIq({ id: 'p2', from: 'j@e', to: 'a', node: 'n', summary: { messageCount: 1, subscriptionCount: 0 }, publishOptions: undefined });
  assert.equal(none.getChild('pubsub', 'http://jabber.org/protocol/pubsub')?.getChild('publish-options'), undefined);
});

test('body preview: cut at MAX_BODY_PREVIEW characters (code points, not bytes)', () => {
  assert.equal(preview('short'), 'short');
  const long = '😀'.repeat(MAX_BODY_PREVIEW + 10);
  const p = preview(long);
  assert.equal([...p].length, MAX_BODY_PREVIEW);
  assert.ok(p.endsWith('…'));
});

test('publish-options form: a submitted pubsub#publish-options form, within bounds', () => {
  const ok = x("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>s</value></field><field var='endpoint'><value>https://e</value></field></x>");
  assert.deepEqual(parsePublishOptions(ok), [['secret', ['s']], ['endpoint', ['https://e']]]);
  const bad: Array<[string, RegExp]> = [
    ["<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field></x>", /type 'submit'/],
    ["<x xmlns='jabber:x:data' type='submit'><field var='secret'><value>s</value></field></x>", /FORM_TYPE/],
    ["<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x>", /FORM_TYPE/],
    ["<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field><value>s</value></field></x>", /'var'/],
    [`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>${'a'.repeat(2000)}</value></field></x>`, /longer than/],
  ];
  for (const [xml, message] of bad) assert.throws(() => parsePublishOptions(x(xml)), (err: unknown) => err instanceof BadForm && message.test(err.message), xml);
});

test('enable/disable parsing: the coded errors for missing or malformed parts', () => {
  const P = "xmlns='urn:xmpp:push:0'";
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      if (err instanceof StanzaError) return `${err.code} ${err.condition}`;
      throw err;
    }
    return 'no error';
  };
  assert.deepEqual(parseEnable(x(`<enable ${P} jid='Push.Example.net' node='n1'/>`)), { jid: 'push.example.net', node: 'n1', options: undefined });
  assert.equal(code(() => parseEnable(x(`<enable ${P} node='n1'/>`))), 'CANTO_ERR_PUSH_JID_REQUIRED bad-request');
  assert.equal(code(() => parseEnable(x(`<enable ${P} jid='' node='n1'/>`))), 'CANTO_ERR_PUSH_JID_REQUIRED bad-request');
  assert.equal(code(() => parseEnable(x(`<enable ${P} jid='a@@b' node='n1'/>`))), 'CANTO_ERR_JID_MALFORMED jid-malformed');
  assert.equal(code(() => parseEnable(x(`<enable ${P} jid='push.example.net'/>`))), 'CANTO_ERR_PUSH_NODE_REQUIRED bad-request');
  assert.equal(code(() => parseEnable(x(`<enable ${P} jid='push.example.net' node='${'n'.repeat(1025)}'/>`))), 'CANTO_ERR_PUSH_INVALID_FORM bad-request');
  assert.equal(code(() => parseEnable(x(`<enable ${P} jid='push.example.net' node='n'><x xmlns='jabber:x:data' type='submit'/></enable>`))), 'CANTO_ERR_PUSH_INVALID_FORM bad-request');
  assert.deepEqual(parseDisable(x(`<disable ${P} jid='push.example.net'/>`)), { jid: 'push.example.net', node: undefined });
  assert.deepEqual(parseDisable(x(`<disable ${P} jid='push.example.net' node='n1'/>`)), { jid: 'push.example.net', node: 'n1' });
  assert.equal(code(() => parseDisable(x(`<disable ${P} node='n1'/>`))), 'CANTO_ERR_PUSH_JID_REQUIRED bad-request');
});

test('back-off: base, doubling, capped', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, 1000, 10_000)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.equal(retryDelay(0, 1000, 10_000), 0);
  assert.equal(retryDelay(1000, 1000, 10_000), 10_000, 'no overflow for many attempts');
});

const entry = (at: number, what = 'x'): TraceEntry => ({ at, trigger: 'offline', what, decision: 'suppressed', reason: 'not-important' });

test('trace: at most perAccount entries per account (oldest dropped), at most maxAccounts accounts (least recently written dropped)', () => {
  const t = new PushTrace(3, 2);
  for (let i = 1; i <= 5; i++) t.add('a@h', entry(i));
  assert.deepEqual(t.get('a@h').map((e) => e.at), [3, 4, 5]);
  t.add('b@h', entry(10));
  t.add('a@h', entry(6)); // a is now the most recent
  t.add('c@h', entry(20)); // evicts b
  assert.equal(t.size, 2);
  assert.deepEqual(t.get('b@h'), []);
  assert.deepEqual(t.get('a@h').map((e) => e.at), [4, 5, 6]);
  assert.deepEqual(t.get('c@h').map((e) => e.at), [20]);
  // Entries are copies: a caller cannot change the trace.
  const [first] = t.get('c@h');
  if (first) first.what = 'changed';
  assert.equal(t.get('c@h')[0]?.what, 'x');
  // An entry kept by the module is updated in place (the app server's answer comes later).
  const live = t.add('c@h', entry(21));
  live.answer = 'result';
  assert.equal(t.get('c@h').at(-1)?.answer, 'result');
  t.forget('c@h');
  assert.equal(t.size, 1);
});

test('deadlines: due ones run in due order, cancelled ones never', () => {
  let now = 0;
  const d = new Deadlines(() => now);
  const ran: string[] = [];
  d.after(30, () => ran.push('b'));
  d.after(10, () => ran.push('a'));
  const cancel = d.after(20, () => ran.push('never'));
  cancel();
  now = 25;
  d.sweep();
  assert.deepEqual(ran, ['a']);
  now = 30;
  d.sweep();
  assert.deepEqual(ran, ['a', 'b']);
  assert.equal(d.size, 0);
});

test('registrations are shown with the node shortened (it identifies a device)', () => {
  assert.equal(describeRegistration({ jid: 'push.example.net', node: 'abcdefghijklmnopqrstuvwxyz' }), 'push.example.net abcdefghijkl…');
  assert.equal(describeRegistration({ jid: 'push.example.net', node: 'short' }), 'push.example.net short');
});

test('push-trace text: registrations, then each decision with its reason, answer and latency; cluster answers merged by time', () => {
  const at = Date.UTC(2025, 0, 2, 3, 4, 5);
  const sent: TraceEntry = { at, registration: 'push.example.net n1', trigger: 'hibernated', what: 'message from romeo@example.com', decision: 'sent', answer: 'result', latencyMs: 42, attempts: 1 };
  const suppressed: TraceEntry = { at: at + 1000, registration: 'push.example.net n1', trigger: 'hibernated', what: 'message from romeo@example.com', decision: 'suppressed', reason: 'rate-limited', detail: 'coalesced' };
  assert.equal(formatEntry(sent), '2025-01-02T03:04:05.000Z  SENT  hibernated: message from romeo@example.com  → push.example.net n1  answer: result in 42 ms');
  assert.match(formatEntry(suppressed), /SUPPRESSED {2}\(rate-limited\) {2}hibernated: message from romeo@example\.com .* — coalesced$/);
  const merged = mergeResults([
    { account: 'juliet@example.com', registrations: [{ appServer: 'push.example.net', node: 'n1', resource: 'phone', enabledAt: at, failures: 0, session: 'none' }], entries: [suppressed] },
    { account: 'juliet@example.com', registrations: [{ appServer: 'push.example.net', node: 'n1', resource: 'phone', enabledAt: at, failures: 0, session: 'hibernated' }], entries: [sent] },
  ]);
  assert.deepEqual(merged.entries.map((e) => e.decision), ['sent', 'suppressed']);
  assert.equal(merged.registrations.length, 1);
  assert.equal(merged.registrations[0]?.session, 'hibernated');
  const text = formatPushTrace(merged);
  assert.match(text, /^Push trace for juliet@example\.com/);
  assert.match(text, /Registrations \(1\):\n {2}push\.example\.net n1 {2}resource phone .* session hibernated {2}consecutive failures 0/);
  assert.match(text, /Decisions \(2, oldest first\):/);
  assert.match(formatPushTrace({ account: 'a@h', registrations: [], entries: [] }), /Registrations: none\. No client of this account has enabled push/);
});
