// Resourcepart preparation: the OpaqueString PRECIS profile (RFC 7622 §3.4). A resource may
// contain anything FreeformClass allows, '@' and '/' included, and keeps its case.

import { JidError } from './errors.js';
import { MAX_INPUT_UNITS, MAX_PART_BYTES } from './limits.js';
import { enforceOpaqueString } from './precis.js';

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** Prepares a resourcepart (RFC 7622 §3.4); throws JidError. */
export function prepareResource(s: string): string {
  if (s === '') throw new JidError('empty-resource');
  // Fast path: printable ASCII and space are all FreeformClass-valid and no mapping touches them.
  if (PRINTABLE_ASCII.test(s)) {
    if (s.length > MAX_PART_BYTES) throw new JidError('resource-too-long');
    return s;
  }
  if (s.length > MAX_INPUT_UNITS) throw new JidError('resource-too-long');
  const result = enforceOpaqueString(s);
  if (!result.ok) {
    switch (result.problem) {
      case 'empty':
        throw new JidError('empty-resource');
      case 'too-long':
        throw new JidError('resource-too-long');
      case 'context':
        throw new JidError('resource-context-rule');
      default:
        throw new JidError('invalid-resource-char');
    }
  }
  return result.value;
}
