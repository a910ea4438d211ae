/**
 * Spelling distance for "did you mean" hints (config keys, enum values, module names). One
 * implementation for the whole code base.
 */

/** Edit distance counting a swap of two neighbours as one edit ("prots" → "ports"). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  const at = (i: number, j: number) => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The closest known name, if it is close enough to be a plausible typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const wanted = name.toLowerCase().replaceAll('-', '_');
  let best: { name: string; distance: number } | undefined;
  for (const k of known) {
    const candidate = k.toLowerCase();
    // "warning" for "warn", "registration" for "allow_registration": one contains the other.
    const contained = Math.min(wanted.length, candidate.length) >= 3 && (wanted.includes(candidate) || candidate.includes(wanted));
    const distance = contained ? 1 : editDistance(wanted, candidate);
    if (!best || distance < best.distance) best = { name: k, distance };
  }
  const allowed = Math.max(1, Math.floor(name.length / 3));
  return best && best.distance <= allowed ? best.name : undefined;
}
