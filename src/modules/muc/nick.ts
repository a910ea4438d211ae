/**
 * Room nicknames: the PRECIS Nickname profile (src/jid/nickname.ts) for what is stored and
 * compared, and a lookalike key so nobody joins as "Ròmeo", "ROMEO" or "Rоmeo" (Cyrillic о)
 * while Romeo is in the room. The key is deliberately coarse (it only refuses a nickname while
 * an occupant of another user has one with the same key): NFKD without combining marks or
 * format characters, lower case, and a small table of letters that look alike across scripts
 * and digits that look like letters.
 */
import { enforceNickname, nicknameComparisonKey } from '../../jid/nickname.js';

export { enforceNickname, nicknameComparisonKey };

// Cyrillic and Greek letters drawn like Latin ones, and the usual digit/letter swaps.
const LOOKALIKE: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x',
  ѕ: 's', і: 'l', ї: 'l', ј: 'j', һ: 'h', ԁ: 'd', ɡ: 'g', ӏ: 'l', ԛ: 'q', ԝ: 'w',
  α: 'a', β: 'b', ε: 'e', η: 'n', ι: 'l', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ω: 'w',
  '0': 'o', '1': 'l', i: 'l', '|': 'l', '5': 's', $: 's', '@': 'a',
  ı: 'l', ł: 'l', ø: 'o', đ: 'd', ð: 'd', ħ: 'h', ŧ: 't', ß: 'ss',
};

// Combining marks (accents) and format characters (zero-width joiners, bidi controls).
const MARKS = /[\p{Mn}\p{Me}\p{Cf}]/gu;

/** The lookalike key of a nickname (already enforced). */
export function nicknameSkeleton(nick: string): string {
  const plain = nick.normalize('NFKD').replace(MARKS, '').toLowerCase();
  let out = '';
  for (const ch of plain) out += LOOKALIKE[ch] ?? ch;
  return out.replace(/\s+/g, '');
}

/** The comparison key of a nickname, or undefined when it is not one (non-throwing helper for lookups). */
export function keyOf(nick: string): string | undefined {
  return nicknameComparisonKey(nick);
}
