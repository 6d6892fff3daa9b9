/** A small seeded PRNG (mulberry32) so every random split and fuzz case can be replayed from its seed. */

/** Random draws from one seed. */
export interface SeededRandom {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, bound). */
  below(bound: number): number;
  /** An integer in [min, max]. */
  between(min: number, max: number): number;
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T;
  /** `length` random bytes. */
  bytes(length: number): Buffer;
}

/** A generator whose whole sequence is fixed by `seed` (any 32-bit integer). */
export function createSeededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (bound: number): number => Math.floor(next() * bound);
  return {
    next,
    below,
    between: (min, max) => min + below(max - min + 1),
    pick: (items) => items[below(items.length)]!,
    bytes: (length) => {
      const out = Buffer.allocUnsafe(length);
      for (let i = 0; i < length; i++) out[i] = below(256);
      return out;
    },
  };
}

/** Cuts `stream` into pieces at `offsets` (ascending, within the stream). */
export function splitAt(stream: Buffer, offsets: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  for (const offset of offsets) {
    pieces.push(stream.subarray(start, offset));
    start = offset;
  }
  pieces.push(stream.subarray(start));
  return pieces;
}

/** Cuts `stream` into 1 to `maxPieces` pieces at random offsets; sometimes into single bytes. */
export function splitRandomly(random: SeededRandom, stream: Buffer, maxPieces: number): Buffer[] {
  if (stream.length > 0 && random.below(8) === 0) return splitAt(stream, [...Array(stream.length - 1).keys()].map((i) => i + 1));
  const cuts = new Set<number>();
  const count = random.below(maxPieces);
  for (let i = 0; i < count; i++) cuts.add(random.below(stream.length + 1));
  return splitAt(stream, [...cuts].sort((a, b) => a - b));
}
