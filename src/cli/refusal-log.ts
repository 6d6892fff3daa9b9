/**
 * Refused connections in the log, summarised as UDP drops are: a flood of refusals (a scan, a
 * client retrying in a loop) must not flood the log. The first refusal of a quiet period starts
 * an interval; at its end one line says how many were refused and why. A lone refusal names
 * its peer, as a line of its own would.
 */
import type { RejectCause, RejectedConnection } from '../index.ts';
import { formatListenAddress } from './listen-address.ts';
import type { Logger } from './logger.ts';

/** How long refusals are gathered into one line, in ms. */
export const REFUSAL_SUMMARY_INTERVAL = 1000;

/** One service's refusals since its last line. */
export class RefusalLog {
  readonly #name: string;
  readonly #log: Logger;
  readonly #describe: (reason: RejectCause) => string;
  readonly #interval: number;
  #counts = new Map<RejectCause, number>();
  #total = 0;
  #first: RejectedConnection | undefined;
  #since = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param name the service, for the line
   * @param describe why a reason refuses, with the limit behind it: `too many clients (--max-clients 256)`
   */
  constructor(name: string, log: Logger, describe: (reason: RejectCause) => string, interval = REFUSAL_SUMMARY_INTERVAL) {
    this.#name = name;
    this.#log = log;
    this.#describe = describe;
    this.#interval = interval;
  }

  /** Counts a refusal; the first of a quiet period starts the interval its line waits for. */
  record(rejection: RejectedConnection): void {
    this.#counts.set(rejection.cause, (this.#counts.get(rejection.cause) ?? 0) + 1);
    if (this.#total++ !== 0) return;
    this.#first = rejection;
    this.#since = performance.now();
    // Unref'd: the listeners keep the process alive while serving, and a close flushes.
    this.#timer = setTimeout(() => this.flush(), this.#interval).unref();
  }

  /** Writes the pending refusals now, if any (at the end of the interval, and when the server closes). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const total = this.#total;
    const first = this.#first;
    if (total === 0 || first === undefined) return;
    const counts = this.#counts;
    const durationMs = Math.round(performance.now() - this.#since);
    this.#counts = new Map();
    this.#total = 0;
    this.#first = undefined;
    const byReason = Object.fromEntries(counts);
    const name = this.#name;
    if (total === 1) {
      const { info, cause: reason } = first;
      const peer = formatListenAddress(info.remoteAddress, info.remotePort);
      this.#log.warn('refused', `refused ${peer} (${name}): ${this.#describe(reason)}`, { service: name, remoteAddress: info.remoteAddress, remotePort: info.remotePort, reason, total, ...byReason });
      return;
    }
    const detail = [...counts].map(([reason, count]) => `${count} ${this.#describe(reason)}`).join(', ');
    this.#log.warn('refused', `${name}: refused ${total} connections in ${(durationMs / 1000).toFixed(1)}s: ${detail}`, { service: name, total, durationMs, ...byReason });
  }
}
