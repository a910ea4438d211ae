/** The example module of docs/modules.md: compiled, loaded and exercised; the doc shows this very file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import counter, { NS_COUNTER } from '../../docs/examples/message-counter.js';
import messageModule from '../../src/modules/message/index.js';
import { defineModule } from '../../src/core/modules.js';
import { startHarness } from '../../src/testing/index.js';
import { iq, message } from '../../src/xml/stanza.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

test('docs/modules.md shows the example module exactly as it is compiled here', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'modules.md'), 'utf8');
  const source = readFileSync(join(ROOT, 'docs', 'examples', 'message-counter.ts'), 'utf8');
  assert.ok(doc.includes(source.trim()), 'the code block in docs/modules.md must be docs/examples/message-counter.ts');
});

test('the example counts sent chat messages, fires its event, provides its service and answers its iq', async () => {
  const milestones: number[] = [];
  let service: { count(u: string): number } | undefined;
  const listener = defineModule({
    name: 'counter-listener',
    depends: ['message-counter'],
    setup(mod) {
      service = mod.require('message-counter');
      mod.hook('counter-milestone', ({ count }) => {
        milestones.push(count);
      });
    },
  });
  const h = await startHarness({
    modules: [messageModule, counter, listener],
    config: (c) => {
      c.modules['message-counter'] = { milestone: 2 };
    },
  });
  try {
    const romeo = await h.client('romeo@localhost/a');
    const juliet = await h.client('juliet@localhost/b');
    for (const body of ['one', 'two', 'three']) romeo.send(message({ to: 'juliet@localhost/b', type: 'chat' }).c('body').t(body).root());
    romeo.send(message({ to: 'juliet@localhost/b', type: 'headline' }).c('body').t('not chat').root());
    await juliet.receives((el) => el.getChildText('body') === 'not chat');
    assert.equal(service?.count('romeo'), 3);
    assert.deepEqual(milestones, [2]);
    assert.match(await h.server.metrics.render(), /canto_message_counter_messages_total\{host="localhost"\} 3/);
    const answer = await romeo.ask(iq({ type: 'get', id: 'c1' }).c('count', { xmlns: NS_COUNTER }).root());
    assert.equal(answer.getChildText('count', NS_COUNTER), '3');
    const refused = await romeo.ask(iq({ type: 'get', id: 'c2', to: 'juliet@localhost' }).c('count', { xmlns: NS_COUNTER }).root());
    assert.ok(refused.getChild('error')?.getChild('forbidden', 'urn:ietf:params:xml:ns:xmpp-stanzas'));
  } finally {
    await h.stop();
  }
});

test('a harness with every built-in module and no listeners starts (no TLS needed) and answers a ping', async () => {
  const h = await startHarness({ builtins: true });
  try {
    const romeo = await h.client('romeo@localhost/a');
    const reply = await romeo.ask(iq({ type: 'get', to: 'localhost', id: 'p1' }).c('ping', { xmlns: 'urn:xmpp:ping' }).root());
    assert.equal(reply.attrs.type, 'result');
  } finally {
    await h.stop();
  }
});
