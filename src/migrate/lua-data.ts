/**
 * A reader for the Lua data files Prosody's internal storage writes (`util.serialization`,
 * `util.datamanager`): `return <value>;` (`.dat` files) and a sequence of `item(<value>);`
 * (`.list` archive files). Only literal data is accepted: tables, strings, numbers, booleans
 * and nil; no expressions, variables or calls other than `item(…)`. Never evaluated, only
 * parsed, with bounds on nesting depth and input size, so a hostile file cannot run code or
 * exhaust memory.
 */

export type LuaKey = string | number | boolean;
export type LuaValue = string | number | boolean | null | LuaTable;

/** A Lua table: its keys in file order (positional items get 1, 2, …). */
export class LuaTable {
  readonly entries = new Map<LuaKey, LuaValue>();
  get(key: LuaKey): LuaValue | undefined {
    return this.entries.get(key);
  }
  /** The positional part, 1..n. */
  array(): LuaValue[] {
    const out: LuaValue[] = [];
    for (let i = 1; this.entries.has(i); i++) out.push(this.entries.get(i) as LuaValue);
    return out;
  }
  string(key: LuaKey): string | undefined {
    const v = this.entries.get(key);
    return typeof v === 'string' ? v : undefined;
  }
  number(key: LuaKey): number | undefined {
    const v = this.entries.get(key);
    return typeof v === 'number' ? v : undefined;
  }
  table(key: LuaKey): LuaTable | undefined {
    const v = this.entries.get(key);
    return v instanceof LuaTable ? v : undefined;
  }
}

export class LuaSyntaxError extends Error {}

const MAX_DEPTH = 64;
export const MAX_LUA_FILE_BYTES = 256 * 1024 * 1024;

class Reader {
  pos = 0;
  depth = 0;
  constructor(readonly src: string) {}

  fail(what: string): never {
    const line = this.src.slice(0, this.pos).split('\n').length;
    throw new LuaSyntaxError(`line ${line}: ${what}`);
  }

  /** Skips whitespace and comments. */
  space(): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else if (c === '-' && this.src[this.pos + 1] === '-') {
        this.pos += 2;
        const long = this.longBracketLevel();
        if (long !== undefined) this.longString(long);
        else while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.pos++;
      } else return;
    }
  }

  eat(s: string): boolean {
    this.space();
    if (this.src.startsWith(s, this.pos)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }

  expect(s: string): void {
    if (!this.eat(s)) this.fail(`expected '${s}'`);
  }

  /** At `[`, `[=…[`: the level (number of '='), leaving pos unchanged; otherwise undefined. */
  longBracketLevel(): number | undefined {
    if (this.src[this.pos] !== '[') return undefined;
    let i = this.pos + 1;
    while (this.src[i] === '=') i++;
    return this.src[i] === '[' ? i - this.pos - 1 : undefined;
  }

  longString(level: number): string {
    this.pos += level + 2;
    if (this.src[this.pos] === '\r') this.pos++;
    if (this.src[this.pos] === '\n') this.pos++;
    const close = `]${'='.repeat(level)}]`;
    const end = this.src.indexOf(close, this.pos);
    if (end < 0) this.fail('unterminated long string');
    const s = this.src.slice(this.pos, end);
    this.pos = end + close.length;
    return s;
  }

  /** A quoted string; Lua strings are bytes: each char of the result is one byte (latin1), decoded by the caller. */
  quoted(): string {
    const quote = this.src[this.pos];
    this.pos++;
    const bytes: number[] = [];
    for (;;) {
      if (this.pos >= this.src.length) this.fail('unterminated string');
      const c = this.src[this.pos] as string;
      this.pos++;
      if (c === quote) break;
      if (c === '\n') this.fail('newline in a string');
      if (c !== '\\') {
        for (const b of Buffer.from(c, 'latin1')) bytes.push(b);
        continue;
      }
      const e = this.src[this.pos] as string;
      this.pos++;
      const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, '"': 34, "'": 39, '\n': 10 };
      if (e in simple) bytes.push(simple[e] as number);
      else if (e === 'x') {
        const hex = this.src.slice(this.pos, this.pos + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail('bad \\x escape');
        bytes.push(parseInt(hex, 16));
        this.pos += 2;
      } else if (e === 'z') {
        while (/\s/.test(this.src[this.pos] ?? '')) this.pos++;
      } else if (/[0-9]/.test(e)) {
        let digits = e;
        while (digits.length < 3 && /[0-9]/.test(this.src[this.pos] ?? '')) digits += this.src[this.pos++];
        const n = Number(digits);
        if (n > 255) this.fail('decimal escape above 255');
        bytes.push(n);
      } else this.fail(`unknown escape \\${e}`);
    }
    return Buffer.from(bytes).toString('latin1');
  }

  number(): number {
    const m = /^-?(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/.exec(this.src.slice(this.pos, this.pos + 64));
    if (!m) this.fail('expected a value');
    const text = m[0];
    this.pos += text.length;
    const negative = text.startsWith('-');
    const magnitude = Number(negative ? text.slice(1) : text); // Number() reads 0x… hex too
    if (!Number.isFinite(magnitude)) this.fail(`bad number ${text}`);
    return negative ? -magnitude : magnitude;
  }

  identifier(): string | undefined {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.src.slice(this.pos, this.pos + 256));
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  value(): LuaValue {
    this.space();
    const c = this.src[this.pos];
    if (c === '{') return this.table();
    if (c === '"' || c === "'") return this.quoted();
    const level = this.longBracketLevel();
    if (level !== undefined) return this.longString(level);
    const start = this.pos;
    const id = this.identifier();
    if (id === 'true') return true;
    if (id === 'false') return false;
    if (id === 'nil') return null;
    if (id !== undefined) {
      this.pos = start;
      this.fail(`unexpected '${id}' (only literal data is read)`);
    }
    // Prosody writes infinities and NaN as expressions; they have no place in its data.
    return this.number();
  }

  table(): LuaTable {
    if (++this.depth > MAX_DEPTH) this.fail(`tables nested deeper than ${MAX_DEPTH}`);
    this.expect('{');
    const t = new LuaTable();
    let next = 1;
    for (;;) {
      this.space();
      if (this.eat('}')) break;
      if (this.src[this.pos] === '[' && this.longBracketLevel() === undefined) {
        this.pos++;
        const key = this.value();
        this.expect(']');
        this.expect('=');
        const v = this.value();
        if (key === null || key instanceof LuaTable) this.fail('table key must be a string, number or boolean');
        if (v !== null) t.entries.set(key, v);
      } else {
        const start = this.pos;
        const id = this.identifier();
        if (id !== undefined && id !== 'true' && id !== 'false' && id !== 'nil' && this.eat('=')) {
          const v = this.value();
          if (v !== null) t.entries.set(id, v);
        } else {
          this.pos = start;
          const v = this.value();
          if (v !== null) t.entries.set(next, v);
          next++;
        }
      }
      this.space();
      if (this.eat(',') || this.eat(';')) continue;
      this.expect('}');
      break;
    }
    this.depth--;
    return t;
  }

  end(): void {
    this.space();
    if (this.pos < this.src.length) this.fail('unexpected text after the data');
  }
}

function checkSize(text: string): void {
  if (text.length > MAX_LUA_FILE_BYTES) throw new LuaSyntaxError(`file larger than ${MAX_LUA_FILE_BYTES} bytes`);
}

/**
 * A `.dat` file: `return <value>;`. The input is the file as latin1 text (one char per byte):
 * Lua strings are bytes; `utf8(s)` decodes a string that holds text.
 */
export function parseLuaReturn(text: string): LuaValue {
  checkSize(text);
  const r = new Reader(text);
  r.expect('return');
  const v = r.value();
  r.eat(';');
  r.end();
  return v;
}

/** A `.list` file: `item(<value>);` repeated. */
export function parseLuaItems(text: string): LuaValue[] {
  checkSize(text);
  const r = new Reader(text);
  const out: LuaValue[] = [];
  for (;;) {
    r.space();
    if (r.pos >= text.length) return out;
    r.expect('item');
    r.expect('(');
    out.push(r.value());
    r.expect(')');
    r.eat(';');
  }
}

/** A Lua string (bytes, one per char) as the UTF-8 text it holds. */
export function utf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** A Lua string as the bytes it holds. */
export function bytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}
