/**
 * When a dead worker is started again: exponential back-off (pm2's `--exp-backoff-restart-delay`,
 * systemd's `RestartSec=` steps), reset by a long enough life, and the crash-loop stop. Pure: no
 * timers, no processes, so every rule is testable by feeding exits.
 */
import { InvalidOptionError } from '../core/errors.ts';

/** How dead workers are replaced (`serveWorkers`' `respawn` option). */
export interface RespawnOptions {
  /** The delay before the first respawn of a slot, in ms. @default 100 */
  readonly initialDelay?: number;
  /** The longest delay: each early exit doubles the delay up to this, in ms. @default 30_000 */
  readonly maxDelay?: number;
  /** A worker that lived this long (ms) resets its slot's delay and crash count. @default 60_000 */
  readonly minUptime?: number;
  /** A slot whose worker exited this many times in a row, each before `minUptime`, is not respawned again (`SWB_ERR_WORKER_CRASH_LOOP`). @default 10 */
  readonly crashLoopExits?: number;
}

/** {@link RespawnOptions} with every default applied. @internal */
export type NormalizedRespawnOptions = Required<RespawnOptions>;

/** @internal */
export const RESPAWN_DEFAULTS: NormalizedRespawnOptions = { initialDelay: 100, maxDelay: 30_000, minUptime: 60_000, crashLoopExits: 10 };

/** @throws {InvalidOptionError} naming the field that is not a non-negative number (or, for `crashLoopExits`, a positive integer) @internal */
export function normalizeRespawnOptions(options: RespawnOptions | undefined): NormalizedRespawnOptions {
  const merged = { ...RESPAWN_DEFAULTS, ...options };
  for (const name of ['initialDelay', 'maxDelay', 'minUptime'] as const) {
    const value = merged[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new InvalidOptionError(`respawn.${name}`, 'must be a non-negative number of milliseconds', value);
  }
  if (!Number.isInteger(merged.crashLoopExits) || merged.crashLoopExits < 1) throw new InvalidOptionError('respawn.crashLoopExits', 'must be a positive integer', merged.crashLoopExits);
  if (merged.maxDelay < merged.initialDelay) throw new InvalidOptionError('respawn.maxDelay', `must be at least initialDelay (${merged.initialDelay})`, merged.maxDelay);
  return merged;
}

/** What to do after one exit of a slot's worker. @internal */
export type RespawnDecision = { readonly action: 'respawn'; readonly delay: number } | { readonly action: 'stop'; readonly earlyExits: number };

/** One worker slot's back-off state. @internal */
export class RespawnSchedule {
  readonly #options: NormalizedRespawnOptions;
  #earlyExits = 0;
  #nextDelay: number;

  constructor(options: NormalizedRespawnOptions) {
    this.#options = options;
    this.#nextDelay = options.initialDelay;
  }

  /** Early exits in a row so far. */
  get earlyExits(): number {
    return this.#earlyExits;
  }

  /** The worker of this slot exited after living `uptime` ms: respawn after a delay, or stop. */
  exited(uptime: number): RespawnDecision {
    const { initialDelay, maxDelay, minUptime, crashLoopExits } = this.#options;
    if (uptime >= minUptime) {
      this.#earlyExits = 0;
      this.#nextDelay = initialDelay;
    }
    if (uptime < minUptime) this.#earlyExits += 1;
    if (this.#earlyExits >= crashLoopExits) return { action: 'stop', earlyExits: this.#earlyExits };
    const delay = this.#nextDelay;
    this.#nextDelay = Math.min(maxDelay, Math.max(1, delay) * 2);
    return { action: 'respawn', delay };
  }
}
