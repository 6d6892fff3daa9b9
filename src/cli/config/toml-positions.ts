/**
 * Where each key and array element of a TOML document starts (line and column, from 1), so a
 * problem with a value can point at it: smol-toml returns values without positions. The
 * document has already parsed, so this scanner only has to find its way through valid TOML --
 * table headers, dotted keys, strings of all four kinds, arrays and inline tables, comments.
 */

/** A place in the file. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** A key path segment: a key, or an array index. */
export type PathSegment = string | number;

/** `services.chat.listen[1]`; a key that is not a bare key is quoted: `services."a.b".listen`. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += `${text === '' ? '' : '.'}${/^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment)}`;
  }
  return text;
}

/**
 * The position of every key (`services.chat.listen`), array element (`services.chat.listen[1]`)
 * and table header (`services.chat`) of `toml`, by {@link formatPath}.
 */
export function tomlPositions(toml: string): Map<string, Position> {
  return new Scanner(toml).scan();
}

class Scanner {
  readonly #text: string;
  readonly #lineStarts: number[] = [0];
  readonly #positions = new Map<string, Position>();
  readonly #arrayTables = new Map<string, number>();
  #at = 0;

  constructor(text: string) {
    this.#text = text;
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.#lineStarts.push(i + 1);
  }

  scan(): Map<string, Position> {
    let table: PathSegment[] = [];
    const text = this.#text;
    while (this.#at < text.length) {
      this.#skipBlank(true);
      if (this.#at >= text.length) break;
      const start = this.#at;
      if (text.startsWith('[[', this.#at)) {
        this.#at += 2;
        const key = this.#key();
        const name = formatPath(key);
        const index = this.#arrayTables.get(name) ?? 0;
        this.#arrayTables.set(name, index + 1);
        table = [...key, index];
        this.#note(table, start);
        this.#note(key, start);
        this.#skipLine();
      } else if (text[this.#at] === '[') {
        this.#at++;
        table = this.#key();
        this.#note(table, start);
        this.#skipLine();
      } else {
        this.#keyValue(table);
        this.#skipLine();
      }
    }
    return this.#positions;
  }

  #note(path: readonly PathSegment[], at: number): void {
    const name = formatPath(path);
    if (!this.#positions.has(name)) this.#positions.set(name, this.#position(at));
  }

  #position(at: number): Position {
    let low = 0;
    let high = this.#lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#lineStarts[middle]! <= at) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: at - this.#lineStarts[low]! + 1 };
  }

  /** `key = value` under `table`. */
  #keyValue(table: readonly PathSegment[]): void {
    const start = this.#at;
    const key = this.#key();
    const path = [...table, ...key];
    for (let i = 1; i < key.length; i++) this.#note([...table, ...key.slice(0, i)], start);
    this.#note(path, start);
    this.#skipBlank(false);
    if (this.#text[this.#at] === '=') this.#at++;
    this.#skipBlank(false);
    this.#value(path);
  }

  /** A dotted key: bare and quoted parts. */
  #key(): string[] {
    const parts: string[] = [];
    const text = this.#text;
    for (;;) {
      this.#skipBlank(false);
      const c = text[this.#at];
      if (c === '"' || c === "'") {
        const start = this.#at;
        this.#string();
        const raw = text.slice(start, this.#at);
        parts.push(c === '"' ? (JSON.parse(raw) as string) : raw.slice(1, -1));
      } else {
        const match = /^[A-Za-z0-9_-]+/.exec(text.slice(this.#at, this.#at + 256));
        parts.push(match?.[0] ?? '');
        this.#at += match?.[0].length ?? 0;
      }
      this.#skipBlank(false);
      if (text[this.#at] !== '.') return parts;
      this.#at++;
    }
  }

  #value(path: readonly PathSegment[]): void {
    const text = this.#text;
    const c = text[this.#at];
    if (c === '[') {
      this.#at++;
      for (let index = 0; ; index++) {
        this.#skipBlank(true);
        if (text[this.#at] === ']' || this.#at >= text.length) break;
        this.#note([...path, index], this.#at);
        this.#value([...path, index]);
        this.#skipBlank(true);
        if (text[this.#at] === ',') this.#at++;
      }
      this.#at++;
    } else if (c === '{') {
      this.#at++;
      for (;;) {
        this.#skipBlank(false);
        if (text[this.#at] === '}' || this.#at >= text.length) break;
        this.#keyValue(path);
        this.#skipBlank(false);
        if (text[this.#at] === ',') this.#at++;
      }
      this.#at++;
    } else if (c === '"' || c === "'") {
      this.#string();
    } else {
      while (this.#at < text.length && !',]}#\n'.includes(text[this.#at]!)) this.#at++;
    }
  }

  /** Past one string of any of the four kinds. */
  #string(): void {
    const text = this.#text;
    const quote = text[this.#at]!;
    const triple = text.startsWith(quote.repeat(3), this.#at);
    const close = triple ? quote.repeat(3) : quote;
    this.#at += close.length;
    while (this.#at < text.length) {
      if (quote === '"' && text[this.#at] === '\\') {
        this.#at += 2;
        continue;
      }
      if (text.startsWith(close, this.#at)) {
        this.#at += close.length;
        // A multi-line string may end with up to two more quotes of its own.
        while (triple && text[this.#at] === quote) this.#at++;
        return;
      }
      this.#at++;
    }
  }

  /** Past spaces and tabs; with `lines`, newlines and comments too. */
  #skipBlank(lines: boolean): void {
    const text = this.#text;
    while (this.#at < text.length) {
      const c = text[this.#at];
      if (c === ' ' || c === '\t' || c === '\r') this.#at++;
      else if (lines && c === '\n') this.#at++;
      else if (lines && c === '#') this.#skipComment();
      else return;
    }
  }

  #skipComment(): void {
    const end = this.#text.indexOf('\n', this.#at);
    this.#at = end === -1 ? this.#text.length : end;
  }

  /** Past the rest of a line (a comment, the header's `]`). */
  #skipLine(): void {
    const end = this.#text.indexOf('\n', this.#at);
    this.#at = end === -1 ? this.#text.length : end + 1;
  }
}
