/**
 * Stream management, MAM and carbons together: a message stream management re-sends after the
 * phone's session ended unacknowledged is not archived a second time and makes no second
 * carbon; it still carries the account's stanza-id, so a client that saw it as a carbon too
 * can tell it is the same message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import smacks from '../../src/modules/smacks/index.js';
import mam from '../../src/modules/mam/index.js';
import carbons from '../../src/modules/carbons/index.js';
import messageModule from '../../src/modules/message/index.js';
import roster from '../../src/modules/roster/index.js';
import { startHarness } from '../../src/testing/index.js';
import { Element } from '../../src/xml/element.js';
import { iq, message, presence } from '../../src/xml/stanza.js';
import { NS_SM } from '../../src/modules/smacks/elements.js';

const NS_SID = 'urn:xmpp:sid:0';
const NS_MAM = 'urn:xmpp:mam:2';
const NS_CARBONS = 'urn:xmpp:carbons:2';

test('a message re-sent by stream management is archived once and copied once', async () => {
  const h = await startHarness({ modules: [messageModule, roster, mam, carbons, smacks] });
  try {
    const phone = await h.client('juliet@localhost/phone');
    const desk = await h.client('juliet@localhost/desk');
    const romeo = await h.client('romeo@localhost/a');
    for (const c of [phone, desk]) {
      h.server.sessions.setPresence(c.session, presence(), 0);
      const enabled = await c.ask(iq({ type: 'set', id: 'c' }).c('enable', { xmlns: NS_CARBONS }).root());
      assert.equal(enabled.attrs.type, 'result');
    }
    assert.ok(h.context.events.fire('stream-element', { origin: phone.session, element: new Element('enable', { xmlns: NS_SM, resume: 'true' }) }));

    romeo.send(message({ to: 'juliet@localhost/phone', type: 'chat', id: 'k1' }).c('body').t('hello phone').root());
    const original = await phone.receives((e) => e.attrs.id === 'k1');
    const carbon = await desk.receives((e) => e.getChild('received', NS_CARBONS) !== undefined);
    const id = original.getChildren('stanza-id', NS_SID).find((s) => s.attrs.by === 'juliet@localhost')?.attrs.id;
    assert.ok(id, 'stamped with juliet’s archive id');

    // The phone goes away without acking: the message is re-sent to the bare JID and reaches the desk.
    phone.session.close();
    const resent = await desk.receives((e) => e.attrs.id === 'k1' && e.getChild('received', NS_CARBONS) === undefined);
    assert.equal(resent.getChildren('stanza-id', NS_SID).find((s) => s.attrs.by === 'juliet@localhost')?.attrs.id, id, 'the same stanza-id as the first delivery');
    assert.ok(resent.getChild('delay', 'urn:xmpp:delay'), 'marked as delayed');
    assert.equal(desk.sent.filter((e) => e.getChild('received', NS_CARBONS) !== undefined).length, 1, 'no second carbon');
    assert.ok(carbon);

    const answer = await desk.ask(iq({ type: 'set', id: 'q' }).c('query', { xmlns: NS_MAM, queryid: 'q1' }).root());
    assert.equal(answer.attrs.type, 'result');
    const results = desk.sent.filter((e) => e.getChild('result', NS_MAM)?.attrs.queryid === 'q1');
    assert.equal(results.length, 1, 'archived once');
  } finally {
    await h.stop();
  }
});
