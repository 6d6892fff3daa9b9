/**
 * The partial-frame deadline (slowloris): a frame that has started must complete within
 * `partialFrameTimeout` of reading time. One sweep per `framed()` handler checks every session,
 * so chunks never touch a timer; a session only records when its current partial frame began.
 */
import { PeriodicSweep, sweepPeriodFor } from '../server/periodic-sweep.ts';

/** A framed session the sweep can ask about its partial frame. @internal */
export interface PartialFrameHolder {
  /** Closes the session if its partial frame is older than `timeout` ms of reading time at `now`. */
  checkPartialFrame(now: number, timeout: number): void;
}

/** Watches the framed sessions of one handler for stale partial frames. @internal */
export class PartialFrameWatch {
  readonly timeout: number;
  readonly #sessions = new Set<PartialFrameHolder>();
  readonly #sweep: PeriodicSweep | undefined;

  /** @param timeout the normalised `partialFrameTimeout`; 0 watches nothing */
  constructor(timeout: number) {
    this.timeout = timeout;
    if (timeout > 0) this.#sweep = new PeriodicSweep(sweepPeriodFor(timeout), (now) => this.#check(now));
  }

  add(session: PartialFrameHolder): void {
    if (this.#sweep === undefined) return;
    this.#sessions.add(session);
    this.#sweep.start();
  }

  delete(session: PartialFrameHolder): void {
    if (!this.#sessions.delete(session) || this.#sessions.size > 0) return;
    this.#sweep?.stop();
  }

  #check(now: number): void {
    for (const session of this.#sessions) session.checkPartialFrame(now, this.timeout);
  }
}
