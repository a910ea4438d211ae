/**
 * Where each key of a TOML document is: a map from the key path in TOML form
 * (`virtualhost[1].domain`, `modules.blocking.max_items`) to its 1-based line. The TOML parser
 * does not keep positions, so config errors find their lines here.
 */

/** Key path (formatPath form) → the line it is first defined on. */
export type KeyLines = ReadonlyMap<string, number>;

/** Lines of every key, table header and array element in TOML text that already parsed. */
export function scanKeyLines(text: string): KeyLines {
  return new KeyLineScanner(text).scan();
}

export type Segment = string | number;

/** A key path in TOML form: `virtualhost[1].domain`, `s2s.hosts."example.com"`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const name = String(seg);
      const bare = /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
      out += out === '' ? bare : `.${bare}`;
    }
  }
  return out;
}

/**
 * Finds the line of every key, table header and array element in TOML source text.
 * It assumes the text already parsed (so it is well-formed) and only tracks structure:
 * table headers (with array tables counted by index), dotted and quoted keys, inline
 * tables and arrays, skipping strings and comments.
 */
class KeyLineScanner {
  readonly lines = new Map<string, number>();
  private pos = 0;
  private line = 1;
  /** For each array table path, the index of its latest element. */
  private readonly arrayTables = new Map<string, number>();

  constructor(private readonly text: string) {}

  scan(): Map<string, number> {
    let current: Segment[] = [];
    while (this.skipBlank(true)) {
      const start = this.pos;
      if (this.text.startsWith('[[', this.pos)) {
        this.pos += 2;
        const keys = this.readKey();
        const parent = this.resolve(keys.slice(0, -1));
        const last = keys[keys.length - 1];
        if (last !== undefined) {
          const arrayPath = [...parent, last];
          const id = formatPath(arrayPath);
          const index = (this.arrayTables.get(id) ?? -1) + 1;
          this.arrayTables.set(id, index);
          current = [...arrayPath, index];
          this.record(current);
        }
      } else if (this.peek() === '[') {
        this.pos += 1;
        current = this.resolve(this.readKey());
        this.record(current);
      } else {
        this.keyValue(current);
      }
      this.skipRestOfLine();
      if (this.pos === start) this.advance(); // never stall on unexpected input
    }
    return this.lines;
  }

  /** Adds the current index of every array table along a header's path. */
  private resolve(keys: string[]): Segment[] {
    const out: Segment[] = [];
    for (const key of keys) {
      out.push(key);
      const index = this.arrayTables.get(formatPath(out));
      if (index !== undefined) out.push(index);
    }
    return out;
  }

  /** Records the line of a path and of its prefixes not seen yet (first definition wins). */
  private record(path: Segment[]): void {
    for (let i = 1; i <= path.length; i++) {
      const id = formatPath(path.slice(0, i));
      if (!this.lines.has(id)) this.lines.set(id, this.line);
    }
  }

  private keyValue(table: Segment[]): void {
    const keys = this.readKey();
    if (keys.length === 0) return;
    this.skipBlank(false);
    if (this.peek() !== '=') return;
    this.pos += 1;
    this.skipBlank(false);
    const path = [...table, ...keys];
    this.record(path);
    this.value(path);
  }

  private value(path: Segment[]): void {
    const c = this.peek();
    if (this.text.startsWith('"""', this.pos)) this.skipString('"""', true);
    else if (this.text.startsWith("'''", this.pos)) this.skipString("'''", false);
    else if (c === '"') this.skipString('"', true);
    else if (c === "'") this.skipString("'", false);
    else if (c === '[') this.arrayValue(path);
    else if (c === '{') this.inlineTable(path);
    else while (this.pos < this.text.length && !',]}\r\n#'.includes(this.text[this.pos] ?? '')) this.pos += 1;
  }

  private arrayValue(path: Segment[]): void {
    this.pos += 1;
    for (let index = 0; this.skipBlank(true); index++) {
      if (this.peek() === ']') break;
      const start = this.pos;
      this.record([...path, index]);
      this.value([...path, index]);
      this.skipBlank(true);
      if (this.peek() === ',') this.pos += 1;
      else if (this.pos === start) break;
    }
    if (this.peek() === ']') this.pos += 1;
  }

  private inlineTable(path: Segment[]): void {
    this.pos += 1;
    while (this.skipBlank(true) && this.peek() !== '}') {
      const start = this.pos;
      this.keyValue(path);
      this.skipBlank(true);
      if (this.peek() === ',') this.pos += 1;
      else if (this.pos === start) break;
    }
    if (this.peek() === '}') this.pos += 1;
  }

  /** Reads a possibly dotted, possibly quoted key; stops before `=` or `]`. */
  private readKey(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipBlank(false);
      const c = this.peek();
      let key: string | undefined;
      if (c === '"') {
        const start = this.pos;
        this.skipString('"', true);
        const literal = this.text.slice(start, this.pos);
        try {
          key = JSON.parse(literal) as string;
        } catch {
          key = literal.slice(1, -1); // a TOML-only escape such as \e; close enough for lookups
        }
      } else if (c === "'") {
        const start = this.pos;
        this.skipString("'", false);
        key = this.text.slice(start + 1, this.pos - 1);
      } else {
        const m = /[A-Za-z0-9_-]+/y;
        m.lastIndex = this.pos;
        const found = m.exec(this.text);
        if (found) {
          key = found[0];
          this.pos += key.length;
        }
      }
      if (key === undefined) break;
      keys.push(key);
      this.skipBlank(false);
      if (this.peek() !== '.') break;
      this.pos += 1;
    }
    return keys;
  }

  private skipString(quote: string, escapes: boolean): void {
    this.pos += quote.length;
    while (this.pos < this.text.length) {
      if (escapes && this.peek() === '\\') {
        this.advance();
        this.advance();
      } else if (this.text.startsWith(quote, this.pos)) {
        this.pos += quote.length;
        // A multi-line string may end with up to two extra quotes: """a"""".
        if (quote.length === 3) for (let i = 0; i < 2 && this.peek() === quote[0]; i++) this.pos += 1;
        return;
      } else this.advance();
    }
  }

  /** Skips spaces and comments (and newlines if asked); returns false at end of text. */
  private skipBlank(newlines: boolean): boolean {
    while (this.pos < this.text.length) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || (newlines && (c === '\n' || c === '\r'))) this.advance();
      else if (c === '#' && newlines) this.skipRestOfLine();
      else return true; // a value, a key, or a comment that ends the current line
    }
    return false;
  }

  private skipRestOfLine(): void {
    while (this.pos < this.text.length && this.peek() !== '\n') this.pos += 1;
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  private advance(): void {
    if (this.text[this.pos] === '\n') this.line += 1;
    this.pos += 1;
  }
}

/** The line of a path, or of its nearest ancestor that appears in the file. */
export function lineOf(lines: KeyLines, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(formatPath(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}
