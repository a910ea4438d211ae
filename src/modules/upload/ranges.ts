/**
 * The Range header of a download (RFC 9110 §14): one byte range — `bytes=a-b`, `bytes=a-` or the
 * last n bytes `bytes=-n` — answered 206; a range past the end is 416. Several ranges at once
 * (multipart/byteranges) are answered with the whole file (200), which §14.2 allows, as is a
 * header that does not parse or another unit.
 */
export type RangeResult = { kind: 'all' } | { kind: 'range'; start: number; end: number } | { kind: 'unsatisfiable' };

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'all' };
  const m = /^bytes=([0-9]*)-([0-9]*)$/.exec(header.trim().replace(/\s+/g, ''));
  if (!m) return { kind: 'all' };
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return { kind: 'all' };
  if (first.length > 16 || last.length > 16) return { kind: 'unsatisfiable' };
  if (first === '') {
    // The last `n` bytes; an empty file has none.
    const n = Number(last);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'all' }; // invalid: ignored (§14.1.1)
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end };
}
