/**
 * What is wrong with a config file, every problem at once, each with the file, line and column
 * and the key path: `switchboard.toml:12:3: services.chat.listen[1]: "::1:7000": an IPv6 address goes in brackets: [::1]:7000`.
 */
import { formatPath, type PathSegment, type Position } from './toml-positions.ts';

/** One problem. */
export interface ConfigProblem {
  readonly line: number;
  readonly column: number;
  /** `services.chat.listen[1]`; empty for the document as a whole. */
  readonly path: string;
  /** The whole message after the position, the key path first. */
  readonly message: string;
}

/** Problems as they are found, each placed at its key (or the nearest enclosing one that has a position). */
export class ProblemList {
  readonly problems: ConfigProblem[] = [];
  readonly #positions: ReadonlyMap<string, Position>;

  constructor(positions: ReadonlyMap<string, Position>) {
    this.#positions = positions;
  }

  /** A problem at `path`: `message` follows `path: `. */
  add(path: readonly PathSegment[], message: string): void {
    this.addMessage(path, `${formatPath(path)}: ${message}`);
  }

  /** A problem at `path` whose message already names it (a value reader's). */
  addMessage(path: readonly PathSegment[], message: string): void {
    const position = this.positionOf(path);
    this.problems.push({ ...position, path: formatPath(path), message });
  }

  /** Where `path` is written, or its nearest ancestor; 1:1 when none is. */
  positionOf(path: readonly PathSegment[]): Position {
    for (let length = path.length; length > 0; length--) {
      const found = this.#positions.get(formatPath(path.slice(0, length)));
      if (found) return found;
    }
    return { line: 1, column: 1 };
  }

  get size(): number {
    return this.problems.length;
  }
}

/** `FILE:LINE:COL: MESSAGE` lines, in the order of the file. */
export function formatProblems(file: string, problems: readonly ConfigProblem[]): string[] {
  return [...problems].sort((a, b) => a.line - b.line || a.column - b.column).map((problem) => `${file}:${problem.line}:${problem.column}: ${problem.message}`);
}
