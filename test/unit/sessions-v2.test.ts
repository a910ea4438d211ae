/** Module API v2 seams: session filters, hibernation and resumption, sender-side events, held stanzas, mod.iq. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineModule } from '../../src/core/modules.js';
import { stanzaError } from '../../src/core/errors.js';
import { iq, message } from '../../src/xml/stanza.js';
import { Element } from '../../src/xml/element.js';
import messageModule from '../../src/modules/message/index.js';
import { startHarness } from '../../src/testing/index.js';
import type { Element as El } from '../../src/xml/element.js';
import type { StanzaEvent } from '../../src/core/event-map.js';

const chat = (to: string, body: string) => message({ to, type: 'chat', id: body }).c('body').t(body).root();
const bodyOf = (el: El) => el.getChildText('body');

test('filters: out filters see stanzas before they are written and may take them; in filters before routing', async () => {
  const h = await startHarness({ modules: [messageModule] });
  try {
    const romeo = await h.client('romeo@localhost/a');
    const juliet = await h.client('juliet@localhost/b');
    const held: string[] = [];
    const off = juliet.session.filters.out.add((st) => {
      if (bodyOf(st) === 'hold me') {
        held.push('hold me');
        return undefined;
      }
      return st;
    });
    romeo.send(chat('juliet@localhost/b', 'hold me'));
    romeo.send(chat('juliet@localhost/b', 'pass'));
    const got = await juliet.receives('message');
    assert.equal(bodyOf(got), 'pass');
    assert.deepEqual(held, ['hold me']);
    off();
    // An in filter on the sender drops a stanza before any routing.
    romeo.session.filters.in.add((st) => (bodyOf(st) === 'secret' ? undefined : st));
    const taken = h.server.sessions.receive(romeo.session, chat('juliet@localhost/b', 'secret'));
    assert.equal(taken, undefined);
  } finally {
    await h.stop();
  }
});

test('lifecycle: a vetoed pre-session-destroy hibernates the session; resume() moves a new connection into it', async () => {
  const queued: El[] = [];
  const keeper = defineModule({
    name: 'keeper',
    setup(mod) {
      mod.hook('pre-session-destroy', ({ session, connectionLost }) => {
        if (!connectionLost) return false;
        session.filters.out.add((st) => {
          if (session.hibernating) {
            queued.push(st);
            return undefined;
          }
          return st;
        });
        return true;
      });
    },
  });
  const h = await startHarness({ modules: [messageModule, keeper] });
  try {
    const romeo = await h.client('romeo@localhost/a');
    const juliet = await h.client('juliet@localhost/phone');
    const old = juliet.session;
    const hibernated = new Promise((r) => h.context.events.on('session-hibernated', r));
    // The connection drops without the stream being closed.
    h.server.sessions.connectionClosed(old, old.conn);
    await hibernated;
    assert.equal(old.hibernating, true);
    assert.equal(old.destroyed, false);
    assert.equal(h.server.sessions.getSession('localhost', 'juliet', 'phone'), old, 'still the bound resource');
    romeo.send(chat('juliet@localhost/phone', 'while away'));
    assert.deepEqual(queued.map(bodyOf), ['while away']);

    // A new authenticated (unbound) connection of the same user takes the session over.
    const fresh = await h.client('juliet@localhost/tmp');
    const freshUnbound = fresh.session;
    const resumed = new Promise((r) => h.context.events.on('session-resumed', r));
    h.server.sessions.resume(old, freshUnbound);
    await resumed;
    assert.equal(old.hibernating, false);
    assert.equal(old.conn, freshUnbound.conn);
    assert.equal(freshUnbound.resumedInto, old);
    assert.equal(freshUnbound.destroyed, true);
    // The old connection closing late changes nothing.
    h.server.sessions.connectionClosed(old, romeo.session.conn);
    assert.equal(old.destroyed, false);
    // A clean close (stream ended) is never vetoed by the keeper: the session is destroyed.
    old.close();
    assert.equal(old.destroyed, true);
    assert.equal(h.server.sessions.getSession('localhost', 'juliet', 'phone'), undefined);
  } finally {
    await h.stop();
  }
});

test('routing: pre-stanza then pre-<kind>/<dest> fire on the sender host for any destination; a held stanza goes on once released', async () => {
  const seen: string[] = [];
  let release: (() => void) | undefined;
  const gate = defineModule({
    name: 'gate',
    setup(mod) {
      const onMessage = ({ to, stanza }: StanzaEvent) => {
        seen.push(`${to.domain}:${bodyOf(stanza) ?? ''}`);
        if (bodyOf(stanza) !== 'hold') return false;
        // Hold: routing continues when the promise resolves to false.
        return new Promise<boolean>((resolve) => (release = () => resolve(false)));
      };
      mod.hook('pre-message/bare', onMessage);
      mod.hook('pre-message/full', onMessage);
      mod.hook('pre-stanza', ({ stanza }) => {
        seen.push(`pre-stanza:${stanza.name}`);
      });
    },
  });
  const h = await startHarness({ modules: [messageModule, gate] });
  try {
    const romeo = await h.client('romeo@localhost/a');
    const juliet = await h.client('juliet@localhost/b');
    romeo.send(chat('someone@remote.example', 'far'));
    romeo.send(chat('juliet@localhost/b', 'hold'));
    assert.deepEqual(seen, ['pre-stanza:message', 'remote.example:far', 'pre-stanza:message', 'localhost:hold']);
    assert.equal(juliet.sent.filter((s) => s.name === 'message').length, 0, 'held');
    release?.();
    const got = await juliet.receives('message');
    assert.equal(bodyOf(got), 'hold');
  } finally {
    await h.stop();
  }
});

test('mod.iq: results (sync, async, payload), coded StanzaErrors and failures become replies', async () => {
  const NS = 'urn:example:v2';
  const answers = defineModule({
    name: 'answers',
    setup(mod) {
      mod.iq('get', NS, 'sync', () => new Element('sync', { xmlns: NS }));
      mod.iq('get', NS, 'later', async () => {
        await Promise.resolve();
        return undefined;
      });
      mod.iq('get', NS, 'missing', () => {
        throw stanzaError('CANTO_ERR_ITEM_NOT_FOUND', 'nothing here');
      });
      mod.iq('get', NS, 'broken', async () => {
        throw new Error('bug');
      });
      mod.iq('set', NS, 'mine', ({ from }) => new Element('mine', { xmlns: NS, who: from.bare }), { to: 'bare' });
    },
  });
  const h = await startHarness({ modules: [answers] });
  try {
    const romeo = await h.client('romeo@localhost/a');
    const ask = (type: 'get' | 'set', name: string, to = 'localhost') => romeo.ask(iq({ type, id: name, to }).c(name, { xmlns: NS }).root());
    assert.equal((await ask('get', 'sync')).getChild('sync', NS)?.name, 'sync');
    const later = await ask('get', 'later');
    assert.equal(later.attrs.type, 'result');
    assert.equal(later.elements.length, 0);
    const missing = await ask('get', 'missing');
    assert.ok(missing.getChild('error')?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
    assert.equal(missing.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), 'nothing here');
    const broken = await ask('get', 'broken');
    assert.ok(broken.getChild('error')?.getChild('internal-server-error', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
    assert.equal((await ask('set', 'mine', 'romeo@localhost')).getChild('mine', NS)?.attrs.who, 'romeo@localhost');
  } finally {
    await h.stop();
  }
});

test('lifecycle: closing a hibernating session (a new binding of its resource) ends it for good', async () => {
  const keeper = defineModule({
    name: 'keeper',
    setup(mod) {
      mod.hook('pre-session-destroy', ({ connectionLost }) => connectionLost);
    },
  });
  const h = await startHarness({ modules: [messageModule, keeper] });
  try {
    const first = await h.client('juliet@localhost/phone');
    const old = first.session;
    h.server.sessions.connectionClosed(old, old.conn);
    assert.equal(old.hibernating, true);
    const destroyed = new Promise((r) => h.server.events.on('session-destroyed', ({ session }) => void (session === old && r(true))));
    const second = await h.client('juliet@localhost/phone'); // kick_old: the hibernating one is closed
    assert.equal(await destroyed, true);
    assert.equal(old.destroyed, true);
    assert.equal(h.server.sessions.getSession('localhost', 'juliet', 'phone'), second.session);
  } finally {
    await h.stop();
  }
});
