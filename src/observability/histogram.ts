/**
 * A fixed-bucket histogram in seconds, Prometheus style (cumulative buckets, a sum and a count).
 * Only a registry that asked for histograms makes one: the hot path never touches it otherwise.
 */
import { InvalidOptionError } from '../core/errors.ts';

/** Session lengths, in seconds: from a quick request to an hour-long connection. */
export const SESSION_DURATION_BUCKETS: readonly number[] = [0.005, 0.05, 0.5, 1, 5, 15, 60, 300, 1800, 3600];

/** TLS handshake times, in seconds. */
export const TLS_HANDSHAKE_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** What a histogram holds at one moment: cumulative counts per upper bound, then `+Inf`. */
export interface HistogramSnapshot {
  /** The upper bounds, ascending, without `+Inf`. */
  readonly buckets: readonly number[];
  /** `cumulative[i]` counts observations <= `buckets[i]`; one more entry for `+Inf` (= `count`). */
  readonly cumulative: readonly number[];
  readonly sum: number;
  readonly count: number;
}

/** @internal */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` unless `bounds` is ascending finite positive numbers */
  constructor(bounds: readonly number[], option: string) {
    checkBuckets(bounds, option);
    this.#bounds = [...bounds];
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(seconds: number): void {
    const bounds = this.#bounds;
    let index = 0;
    while (index < bounds.length && seconds > bounds[index]!) index++;
    this.#counts[index]!++;
    this.#sum += seconds;
    this.#count++;
  }

  snapshot(): HistogramSnapshot {
    const cumulative: number[] = [];
    let running = 0;
    for (const count of this.#counts) cumulative.push((running += count));
    return { buckets: this.#bounds, cumulative, sum: this.#sum, count: this.#count };
  }
}

/** @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming `option` */
export function checkBuckets(bounds: unknown, option: string): asserts bounds is readonly number[] {
  const ok =
    Array.isArray(bounds) &&
    bounds.length > 0 &&
    bounds.every((bound, i) => typeof bound === 'number' && Number.isFinite(bound) && bound > 0 && (i === 0 || bound > (bounds[i - 1] as number)));
  if (!ok) throw new InvalidOptionError(option, 'must be a non-empty array of ascending finite positive numbers (seconds)', bounds);
}
