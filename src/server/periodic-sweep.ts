/**
 * One unref'd interval that checks many deadlines at once, running only while there is
 * something to check: sessions cost no timer of their own, and chunks never touch a timer.
 */
import { performance } from 'node:perf_hooks';

/** A sweep period for deadlines as short as `shortest` ms: an eighth of it, from 10 ms to 1 s. */
export function sweepPeriodFor(shortest: number): number {
  return Math.min(1000, Math.max(10, Math.floor(shortest / 8)));
}

/** Calls `tick(now)` every `period` ms between {@link start} and {@link stop}. */
export class PeriodicSweep {
  readonly #period: number;
  readonly #tick: (now: number) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(period: number, tick: (now: number) => void) {
    this.#period = period;
    this.#tick = tick;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts ticking (idempotent). The timer never keeps the process alive on its own. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#tick(performance.now()), this.#period);
    this.#timer.unref();
  }

  /** Stops ticking (idempotent). */
  stop(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
