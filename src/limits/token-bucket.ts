/**
 * A token bucket for the accept rate: `rate` tokens per second up to `burst`, refilled lazily
 * when a connection asks (no timer).
 */
import { performance } from 'node:perf_hooks';

/** Accept-rate limiter; a rate of 0 admits everything. */
export class TokenBucket {
  readonly #now: () => number;
  #rate = 0;
  #burst = 1;
  #tokens = 0;
  #updatedAt = 0;

  /** @param now a monotonic clock in ms (tests inject one) */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Sets the rate (tokens per second, 0 = unlimited) and the bucket size. Tokens held above the new size are dropped. */
  configure(rate: number, burst: number): void {
    const wasUnlimited = this.#rate === 0;
    this.#refill();
    this.#rate = rate;
    this.#burst = burst;
    // A limit switched on starts with a full bucket: it throttles floods, not the next client.
    this.#tokens = wasUnlimited ? burst : Math.min(this.#tokens, burst);
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    if (this.#rate === 0) return true;
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #refill(): void {
    const now = this.#now();
    if (this.#rate > 0) this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#updatedAt) * this.#rate) / 1000);
    this.#updatedAt = now;
  }
}
