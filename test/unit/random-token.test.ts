/**
 * Tokens that are also command-line arguments never start with '-' (one base64url draw in 64
 * does): `canto invite revoke -S…` was read as an unknown option.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomToken } from '../../src/util/random-token.js';
import { newToken } from '../../src/modules/invites/store.js';

test('random tokens never start with a dash, and keep their length and alphabet', () => {
  // 5,000 draws: without the redraw about 78 would start with '-'.
  for (let i = 0; i < 5000; i++) {
    const token = randomToken(12);
    assert.match(token, /^[A-Za-z0-9_][A-Za-z0-9_-]{15}$/);
  }
  for (let i = 0; i < 2000; i++) assert.match(newToken(), /^[A-Za-z0-9_][A-Za-z0-9_-]{23}$/);
});
