// Localpart preparation: the UsernameCaseMapped PRECIS profile plus the characters RFC 7622
// §3.3.1 forbids on top of it.

import { JidError } from './errors.js';
import { MAX_INPUT_UNITS, MAX_PART_BYTES } from './limits.js';
import { enforceUsernameCaseMapped } from './precis.js';

// Printable ASCII (all of it is IdentifierClass-valid) minus the characters RFC 7622 forbids in
// a localpart: " & ' / : < > @ (space is not printable ASCII).
const ASCII_LOCALPART = /^[!#-%(-.0-9;=?A-~]+$/;
const FORBIDDEN = /["&'/:<>@]/;

/** Prepares a localpart (RFC 7622 §3.3); throws JidError. */
export function prepareLocalpart(s: string): string {
  if (s === '') throw new JidError('empty-localpart');
  // Fast path: plain ASCII, as in nearly every stanza. Lower-casing ASCII is all PRECIS does to it.
  if (ASCII_LOCALPART.test(s)) {
    if (s.length > MAX_PART_BYTES) throw new JidError('localpart-too-long');
    return s.toLowerCase();
  }
  if (s.length > MAX_INPUT_UNITS) throw new JidError('localpart-too-long');
  const result = enforceUsernameCaseMapped(s);
  if (!result.ok) {
    switch (result.problem) {
      case 'empty':
        throw new JidError('empty-localpart');
      case 'too-long':
        throw new JidError('localpart-too-long');
      case 'context':
        throw new JidError('localpart-context-rule');
      case 'bidi':
        throw new JidError('localpart-bidi-rule');
      default:
        throw new JidError('invalid-localpart-char');
    }
  }
  if (FORBIDDEN.test(result.value)) throw new JidError('invalid-localpart-char');
  return result.value;
}
