/** The example of src/testing/README.md, kept compiling and passing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { defineModule } from '../../src/core/modules.js';
import { duration } from '../../src/core/option-schemas.js';
import { iq, message } from '../../src/xml/stanza.js';
import messageModule from '../../src/modules/message/index.js';
import { errorCondition, FakeClock, startHarness } from '../../src/testing/index.js';

// A module to test: answers <hello/> and, an hour later, sends the asker a reminder.
const hello = defineModule({
  name: 'hello',
  options: z.object({ remind_after: duration('1 hour') }),
  setup(mod) {
    const clock = mod.clock;
    const after = mod.options.remind_after;
    mod.iq('get', 'urn:example:hello', 'hello', ({ stanza }) => {
      const to = stanza.attrs.from;
      clock.setTimeout(() => mod.send(message({ to, from: mod.host }).c('body').t('still there?').root()), after);
      return undefined; // an empty result
    });
  },
});

test('hello answers, and reminds an hour later', async () => {
  const clock = new FakeClock();
  const h = await startHarness({
    modules: [hello, messageModule], // only these modules (no listeners, no c2s)
    clock, // the server's clock: mod.clock, mod.now(), mod.setTimeout in the modules
    config: (c) => {
      c.modules.hello = { remind_after: '1h' };
    },
  });
  try {
    const romeo = await h.client('romeo@localhost/phone'); // account created, resource bound
    const answer = await romeo.ask(iq({ type: 'get', id: 'h1', to: 'localhost' }).c('hello', { xmlns: 'urn:example:hello' }).root());
    assert.equal(answer.attrs.type, 'result');

    romeo.send(iq({ type: 'get', id: 'h2', to: 'localhost' }).c('nope', { xmlns: 'urn:example:hello' }).root());
    const error = await romeo.receives((el) => el.attrs.id === 'h2', { timeoutMs: 1000 });
    assert.equal(errorCondition(error), 'cancel/service-unavailable');

    clock.advance(3_599_999);
    assert.equal(romeo.sent.filter((el) => el.name === 'message').length, 0);
    clock.advance(1); // runs the module's due timers, in order
    const reminder = await romeo.receives('message');
    assert.equal(reminder.getChildText('body'), 'still there?');
  } finally {
    await h.stop();
  }
});
