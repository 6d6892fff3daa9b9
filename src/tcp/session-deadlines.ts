/**
 * The server-wide session deadlines -- idle time, first byte and maximum lifetime -- checked by
 * one sweep over the open sessions instead of a timer per session (or per chunk).
 */
import { CloseCause } from './close-reason.ts';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';
import type { TcpSession } from './tcp-session.ts';
import { PeriodicSweep, sweepPeriodFor } from '../server/periodic-sweep.ts';

/** Times out idle sessions; closes sessions past `firstByteTimeout` without a byte, or past `maxLifetime`. @internal */
export class SessionDeadlines {
  /** Whether any session may have an idle timeout: the server's, or one a session set for itself. */
  #checkIdle: boolean;
  readonly #firstByteTimeout: number;
  readonly #maxLifetime: number;
  readonly #sessions: ReadonlySet<TcpSession>;
  /** The shortest deadline the sweep period was chosen for. */
  #shortest = Infinity;
  #sweep: PeriodicSweep | undefined;

  constructor(idleTimeout: number, firstByteTimeout: number, maxLifetime: number, sessions: ReadonlySet<TcpSession>) {
    this.#checkIdle = idleTimeout > 0;
    this.#firstByteTimeout = firstByteTimeout;
    this.#maxLifetime = maxLifetime;
    this.#sessions = sessions;
    for (const ms of [idleTimeout, firstByteTimeout, maxLifetime]) this.#sweepFor(ms);
  }

  /**
   * A session set its own idle timeout (`session.setIdleTimeout`): idle time is checked from now
   * on, and often enough for the shortest timeout any session has asked for.
   */
  idleTimeoutSet(ms: number): void {
    if (ms <= 0) return;
    this.#checkIdle = true;
    this.#sweepFor(ms);
    if (this.#sessions.size > 0) this.#sweep!.start();
  }

  /** A sweep at least as frequent as a deadline of `ms` needs (none for 0: disabled). */
  #sweepFor(ms: number): void {
    if (ms <= 0 || ms >= this.#shortest) return;
    this.#shortest = ms;
    const running = this.#sweep?.running ?? false;
    this.#sweep?.stop();
    this.#sweep = new PeriodicSweep(sweepPeriodFor(ms), (now) => this.#check(now));
    if (running) this.#sweep.start();
  }

  /** A session opened: make sure the sweep runs. */
  opened(): void {
    this.#sweep?.start();
  }

  /**
   * No session is left: the sweep stops at its next tick if none has opened by then, rather than
   * now, so a server whose sessions come and go one at a time does not set and clear an
   * interval per connection (the timer is unref'd: it never holds the process).
   */
  idle(): void {}

  /** `now` is the sweep's monotonic clock (performance.now()): a wall-clock step moves no deadline. */
  #check(now: number): void {
    if (this.#sessions.size === 0) return this.#sweep?.stop();
    const firstByte = this.#firstByteTimeout;
    const lifetime = this.#maxLifetime;
    const checkIdle = this.#checkIdle;
    for (const session of this.#sessions) {
      if (checkIdle) session.checkIdle(now);
      if (firstByte === 0 && lifetime === 0) continue;
      const age = now - session.openedTick;
      if (lifetime > 0 && age >= lifetime) {
        expire(session, `session ${session.id} reached maxLifetime (${lifetime} ms)`);
      } else if (firstByte > 0 && age >= firstByte && session.bytesRead === 0) {
        expire(session, `session ${session.id} sent nothing within firstByteTimeout (${firstByte} ms)`);
      }
    }
  }
}

function expire(session: TcpSession, message: string): void {
  if (session.state === 'closed') return;
  session.terminate(CloseCause.LIMIT, new SwitchboardError(ErrorCode.DEADLINE_EXCEEDED, message), false);
}
