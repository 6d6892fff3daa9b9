/** Order statistics over a handful of samples. */

/** The median of `values` (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The mean of `values`; NaN when empty. */
export function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Median, minimum and maximum; all NaN when `values` is empty. */
export function summarize(values: readonly number[]): { median: number; min: number; max: number } {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** `min–max` of `values`, each with `digits` decimals. */
export function formatRange(values: readonly number[], digits: number): string {
  return `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
}

/**
 * A percentile-bootstrap interval for the median of `values`: the central `level` share of the
 * medians of `resamples` resamplings with replacement. The generator has a fixed seed, so the same
 * samples always give the same interval. With ratios that move ±30 % from round to round, it says
 * whether a run shows a target at all: a bar inside the interval is neither met nor missed.
 * NaN bounds for no values.
 */
export function medianInterval(values: readonly number[], level = 0.95, resamples = 2000): { low: number; high: number } {
  if (values.length === 0) return { low: Number.NaN, high: Number.NaN };
  const random = seededRandom(0x5eed);
  const medians = new Float64Array(resamples);
  const resample = new Array<number>(values.length);
  for (let round = 0; round < resamples; round++) {
    for (let index = 0; index < values.length; index++) resample[index] = values[Math.floor(random() * values.length)];
    medians[round] = median(resample);
  }
  medians.sort();
  const tail = (1 - level) / 2;
  return { low: medians[Math.floor(tail * (resamples - 1))], high: medians[Math.ceil((1 - tail) * (resamples - 1))] };
}

/** A small deterministic generator of numbers in [0, 1) (mulberry32). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `0.956 (0.682–1.315) [0.941–0.970]`: the median of per-round ratios, their range, and the median's 95 % {@link medianInterval}. */
export function formatRatios(ratios: readonly number[]): string {
  const { low, high } = medianInterval(ratios);
  return `${median(ratios).toFixed(3)} (${formatRange(ratios, 3)}) [${low.toFixed(3)}–${high.toFixed(3)}]`;
}
