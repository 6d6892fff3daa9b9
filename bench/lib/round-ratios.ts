/**
 * Ratios taken round by round: each sample against its baseline's sample of the same round,
 * so a slow spell of the shared machine that hits one round hits both sides of its ratio.
 */
import type { Measured, Sample } from './loadgen.ts';
import { medianInterval, summarize } from './stats.ts';

/** Work per second of server CPU (loadgen's `srv_cpu`), or null when it was not sampled. */
export function perCpu(sample: Measured): number | null {
  return sample.srvCpu !== null && sample.srvCpu > 0 ? sample.value / (sample.srvCpu / 100) : null;
}

/** The figure itself (throughput, or bytes for a memory column). */
export function figure(sample: Measured): number {
  return sample.value;
}

/** The ratio of each round where both samples produced the figure; rounds without one are left out. */
export function roundRatios(
  samples: readonly Sample[],
  baseline: readonly Sample[],
  pick: (s: Measured) => number | null,
): number[] {
  const ratios: number[] = [];
  for (let round = 0; round < Math.min(samples.length, baseline.length); round++) {
    const a = samples[round]!;
    const b = baseline[round]!;
    if (!a.ok || !b.ok) continue;
    const x = pick(a);
    const y = pick(b);
    if (x !== null && y !== null && y > 0) ratios.push(x / y);
  }
  return ratios;
}

/**
 * Median, min, max and count of the per-round ratios, and a 95 % bootstrap interval for the
 * median (`low`–`high`, from 3 rounds on; NaN figures when there is none).
 */
export interface RatioSummary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly rounds: number;
  readonly low: number;
  readonly high: number;
}

export function summarizeRatios(ratios: readonly number[]): RatioSummary {
  const interval = ratios.length > 2 ? medianInterval(ratios) : { low: Number.NaN, high: Number.NaN };
  return { ...summarize(ratios), rounds: ratios.length, ...interval };
}

/** `0.953× 0.91–0.99 n=5 [0.92–0.98]` (the last: the median's 95 % interval), or `–` without a figure. */
export function formatRatio(summary: RatioSummary): string {
  if (summary.rounds === 0 || !Number.isFinite(summary.median)) return '–';
  const range = summary.rounds > 1 ? ` ${summary.min.toFixed(2)}–${summary.max.toFixed(2)}` : '';
  const interval = Number.isFinite(summary.low) ? ` [${summary.low.toFixed(2)}–${summary.high.toFixed(2)}]` : '';
  return `${summary.median.toFixed(3)}×${range} n=${summary.rounds}${interval}`;
}

/**
 * Whether the median's interval settles a target: `shown` when all of it is on the good side,
 * `refuted` when all of it is on the other, `unsettled` when the target lies inside it (the run
 * cannot tell; more rounds can) or there is no interval (NaN bounds: fewer than 3 rounds).
 */
export function intervalVerdict(interval: { readonly low: number; readonly high: number }, target: number, lowerIsBetter: boolean): 'shown' | 'refuted' | 'unsettled' {
  const good = lowerIsBetter ? interval.high <= target : interval.low >= target;
  const bad = lowerIsBetter ? interval.low > target : interval.high < target;
  return good ? 'shown' : bad ? 'refuted' : 'unsettled';
}
