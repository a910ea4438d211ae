/**
 * log_format = "journald" (src/core/logging.ts): one line per event with the syslog priority as
 * systemd's "<N>" prefix, fields on the same line, no timestamp (journald stamps its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/logging.js';

function capture(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return { lines, destination };
}

test('journald lines carry the syslog priority and stay on one line', () => {
  const { lines, destination } = capture();
  const log = createLogger({ level: 'debug', format: 'journald', destination });
  log.info({ ip: '127.0.0.1', nested: { a: 1 } }, 'client connected');
  log.warn('disk almost full');
  log.error({ err: new Error('boom\nsecond line') }, 'handler failed');
  log.debug('details');
  log.child({ session: 'c2s1' }).fatal('stopping');
  assert.equal(lines.length, 5, lines.join('\n'));
  assert.match(lines[0] ?? '', /^<6>client connected .*"ip":"127\.0\.0\.1"/);
  assert.match(lines[0] ?? '', /"nested":\{"a":1\}/, 'objects inline, not on lines of their own');
  assert.match(lines[1] ?? '', /^<4>disk almost full/);
  assert.match(lines[2] ?? '', /^<3>handler failed .*boom/, 'an error with a newline still makes one line');
  assert.match(lines[3] ?? '', /^<7>details/);
  assert.match(lines[4] ?? '', /^<2>stopping .*"session":"c2s1"/);
  for (const l of lines) assert.doesNotMatch(l, /\d{4}-\d\d-\d\dT?\s?\d\d:\d\d/, 'no timestamp');
});
