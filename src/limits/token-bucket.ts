/**
 * The token bucket every rate limit uses -- TCP's accept rate, UDP's per-source and reply rates:
 * `rate` tokens per second up to `capacity`, refilled lazily from the time passed when tokens
 * are asked for (no timer). The clock is the owner's: milliseconds by default, or a tick count.
 */
import { performance } from 'node:perf_hooks';

/**
 * A token bucket; a rate of 0 admits everything.
 * @example
 * const bucket = new TokenBucket();
 * bucket.configure(50, 10); // 50 per second, 10 at once
 * if (!bucket.take()) refuse();
 */
export class TokenBucket {
  readonly #now: () => number;
  readonly #unitsPerSecond: number;
  #rate = 0;
  #capacity = Infinity;
  #tokens = Infinity;
  #stamp: number;

  /**
   * Starts unlimited (rate 0); {@link configure} sets a rate.
   * @param now a monotonic clock (tests inject one) @default `performance.now()`, in ms
   * @param unitsPerSecond how many units of `now` make one second @default 1000
   */
  constructor(now: () => number = () => performance.now(), unitsPerSecond = 1000) {
    this.#now = now;
    this.#unitsPerSecond = unitsPerSecond;
    this.#stamp = now();
  }

  /**
   * Sets the rate (tokens per second, 0 = unlimited) and the bucket size. A limit switched on
   * starts with a full bucket (it throttles floods, not the next client); tokens held above a
   * new, smaller size are dropped; the balance carries over a rate change.
   */
  configure(rate: number, capacity: number): void {
    this.#refill();
    this.#rate = rate;
    this.#capacity = rate === 0 ? Infinity : capacity;
    this.#tokens = rate === 0 ? Infinity : Math.min(this.#tokens, capacity);
  }

  /** Whether `count` tokens are there (nothing is taken). */
  has(count = 1): boolean {
    if (this.#rate === 0) return true;
    this.#refill();
    return this.#tokens >= count;
  }

  /** Takes `count` tokens; false (nothing taken) when fewer are left. */
  take(count = 1): boolean {
    if (!this.has(count)) return false;
    this.#tokens -= count;
    return true;
  }

  /**
   * Takes `count` tokens while the bucket is not empty, going into debt if it holds fewer (any
   * cost passes at any rate; the debt is repaid before the next); false when it is empty.
   */
  borrow(count: number): boolean {
    if (this.#rate === 0) return true;
    this.#refill();
    if (this.#tokens <= 0) return false;
    this.#tokens -= count;
    return true;
  }

  #refill(): void {
    const now = this.#now();
    if (this.#rate > 0) this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#stamp) * this.#rate) / this.#unitsPerSecond);
    this.#stamp = now;
  }
}
