import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, parseSize } from '../../src/core/units.js';

test('durations: numbers are seconds', () => {
  assert.equal(parseDuration(30), 30_000);
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration(1.5), 1500);
});

test('durations: strings with units', () => {
  const cases: Array<[string, number]> = [
    ['250ms', 250],
    ['30s', 30_000],
    ['30 seconds', 30_000],
    ['1 second', 1000],
    ['5 minutes', 300_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1 day', 86_400_000],
    ['2 weeks', 14 * 86_400_000],
    ['1.5h', 5_400_000],
    ['1h 30m', 5_400_000],
    ['1 hour, 30 minutes', 5_400_000],
    ['  10 S ', 10_000],
    ['45', 45_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('durations: bad input throws a helpful message', () => {
  assert.throws(() => parseDuration('5 parsecs'), /unknown unit "parsecs".*"30s"/);
  assert.throws(() => parseDuration(''), /invalid duration "": empty/);
  assert.throws(() => parseDuration('soon'), /cannot read "soon"/);
  assert.throws(() => parseDuration('-5s'), /invalid duration/);
  assert.throws(() => parseDuration('1h 30'), /every part needs a unit/);
  assert.throws(() => parseDuration(-1), /must be a finite number >= 0/);
  assert.throws(() => parseDuration(Number.NaN), /finite/);
});

test('sizes: numbers are bytes, units are binary', () => {
  assert.equal(parseSize(1024), 1024);
  assert.equal(parseSize('256 KiB'), 256 * 1024);
  assert.equal(parseSize('1 MiB'), 1024 * 1024);
  assert.equal(parseSize('512kb'), 512 * 1024);
  assert.equal(parseSize('512K'), 512 * 1024);
  assert.equal(parseSize('2 GiB'), 2 * 1024 ** 3);
  assert.equal(parseSize('10 bytes'), 10);
  assert.equal(parseSize('1.5 KiB'), 1536);
  assert.equal(parseSize('100'), 100);
});

test('sizes: bad input throws a helpful message', () => {
  assert.throws(() => parseSize('12 parsecs'), /invalid size "12 parsecs": unknown unit "parsecs".*KiB/);
  assert.throws(() => parseSize('lots'), /invalid size "lots"/);
  assert.throws(() => parseSize(-3), /invalid size -3/);
  assert.throws(() => parseSize(Infinity), /finite/);
});
