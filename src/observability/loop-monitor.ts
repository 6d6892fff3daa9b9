/**
 * Is the event loop responsive? A timer that should fire every `interval` ms measures how late
 * it fires; `/healthz` fails while a delay over the threshold was seen in the last `window` ms, or
 * while the timer is overdue by more than the threshold right now (the loop is still blocked).
 */
import { performance } from 'node:perf_hooks';

/** How often the monitor's timer runs, in ms. */
const TICK_MS = 50;

/** @internal */
export class LoopMonitor {
  readonly #threshold: number;
  readonly #window: number;
  #timer: NodeJS.Timeout | undefined;
  #lastTick = 0;
  /** The largest delay of the current and the previous window, and when each window began. */
  #current = 0;
  #previous = 0;
  #windowStart = 0;

  constructor(threshold: number, window: number) {
    this.#threshold = threshold;
    this.#window = window;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#lastTick = this.#windowStart = performance.now();
    this.#timer = setInterval(() => this.#tick(), TICK_MS).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The largest event-loop delay seen recently, in ms, the one in progress included. */
  get delay(): number {
    const overdue = this.#timer === undefined ? 0 : Math.max(0, performance.now() - this.#lastTick - TICK_MS);
    return Math.max(this.#current, this.#previous, overdue);
  }

  /** Whether the loop answered within the threshold lately. */
  get healthy(): boolean {
    return this.delay <= this.#threshold;
  }

  #tick(): void {
    const now = performance.now();
    const late = Math.max(0, now - this.#lastTick - TICK_MS);
    this.#lastTick = now;
    if (now - this.#windowStart >= this.#window / 2) {
      this.#previous = this.#current;
      this.#current = 0;
      this.#windowStart = now;
    }
    if (late > this.#current) this.#current = late;
  }
}
