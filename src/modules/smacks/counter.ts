/**
 * XEP-0198 sequence numbers: 'h' counts handled stanzas modulo 2^32 (§5 "wraps to zero").
 * Kept apart from the module so the arithmetic is tested on its own.
 */

/** Counters wrap here. */
export const H_MODULUS = 2 ** 32;

/** `h + n` modulo 2^32 (n ≥ 0). */
export function addH(h: number, n = 1): number {
  return (h + n) % H_MODULUS;
}

/** How far `later` is ahead of `earlier`, modulo 2^32: the stanzas between the two counts. */
export function diffH(later: number, earlier: number): number {
  return (((later - earlier) % H_MODULUS) + H_MODULUS) % H_MODULUS;
}

/**
 * An 'h' attribute as sent: decimal digits for an unsigned 32-bit integer, else undefined.
 * Leading zeros are tolerated (the XEP's xs:unsignedInt allows them); signs, spaces and
 * exponents are not.
 */
export function parseH(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,20}$/.test(value)) return undefined;
  const n = Number(value.replace(/^0+(?=.)/, ''));
  return Number.isSafeInteger(n) && n < H_MODULUS ? n : undefined;
}
