/**
 * The bytes of an incomplete frame, kept as views of the chunks they arrived in and copied
 * once, when the frame completes -- never concatenated chunk by chunk.
 */

const EMPTY = Buffer.alloc(0);

/** An append-only list of byte pieces with a running length. */
export class PendingBytes {
  #pieces: Buffer[];
  #length: number;

  constructor() {
    this.#pieces = [];
    this.#length = 0;
  }

  /** Total bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Holds `piece` (a view, not a copy). */
  push(piece: Buffer): void {
    if (piece.length === 0) return;
    this.#pieces.push(piece);
    this.#length += piece.length;
  }

  /** The last byte held, or -1 when empty. */
  lastByte(): number {
    const last = this.#pieces.at(-1);
    return last === undefined ? -1 : last[last.length - 1]!;
  }

  /** Copies bytes `[start, end)` of the held bytes followed by `extra` into `target` at 0. */
  copyTo(target: Buffer, start: number, end: number, extra: Buffer = EMPTY): void {
    let position = 0;
    let written = 0;
    for (const piece of this.#pieces) {
      written += copyOverlap(piece, position, start, end, target, written);
      position += piece.length;
      if (position >= end) return;
    }
    copyOverlap(extra, position, start, end, target, written);
  }

  /**
   * Empties the list and returns the held bytes followed by `extra`, minus `skip` leading and
   * `trimEnd` trailing bytes: a view when they lie in one piece, else a single copy.
   */
  take(extra: Buffer = EMPTY, skip = 0, trimEnd = 0): Buffer {
    const end = this.#length + extra.length - trimEnd;
    let result: Buffer | undefined;
    let position = 0;
    for (const piece of this.#pieces) {
      if (position <= skip && end <= position + piece.length) {
        result = piece.subarray(skip - position, end - position);
        break;
      }
      position += piece.length;
    }
    if (result === undefined && position <= skip) result = extra.subarray(skip - position, end - position);
    result ??= this.#copy(extra, skip, end);
    this.clear();
    return result;
  }

  /** Drops everything held. */
  clear(): void {
    this.#pieces = [];
    this.#length = 0;
  }

  #copy(extra: Buffer, start: number, end: number): Buffer {
    const out = Buffer.allocUnsafe(Math.max(0, end - start));
    this.copyTo(out, start, end, extra);
    return out;
  }
}

/** Copies the part of `piece` (which starts at stream `position`) inside `[start, end)`; returns bytes copied. */
function copyOverlap(piece: Buffer, position: number, start: number, end: number, target: Buffer, at: number): number {
  const from = Math.max(start - position, 0);
  const to = Math.min(end - position, piece.length);
  if (to <= from) return 0;
  return piece.copy(target, at, from, to);
}
