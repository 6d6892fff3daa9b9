/**
 * The server-wide session deadlines — idle time, first byte and maximum lifetime — checked by
 * one sweep over the open sessions instead of a timer per session (or per chunk).
 */
import { CloseCause } from './close-reason.ts';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';
import type { TcpSession } from './tcp-session.ts';
import { PeriodicSweep, sweepPeriodFor } from '../server/periodic-sweep.ts';

/** Times out idle sessions; closes sessions past `firstByteTimeout` without a byte, or past `maxLifetime`. @internal */
export class SessionDeadlines {
  readonly #idleTimeout: number;
  readonly #firstByteTimeout: number;
  readonly #maxLifetime: number;
  readonly #sessions: ReadonlySet<TcpSession>;
  readonly #sweep: PeriodicSweep | undefined;

  constructor(idleTimeout: number, firstByteTimeout: number, maxLifetime: number, sessions: ReadonlySet<TcpSession>) {
    this.#idleTimeout = idleTimeout;
    this.#firstByteTimeout = firstByteTimeout;
    this.#maxLifetime = maxLifetime;
    this.#sessions = sessions;
    const enabled = [idleTimeout, firstByteTimeout, maxLifetime].filter((ms) => ms > 0);
    if (enabled.length > 0) this.#sweep = new PeriodicSweep(sweepPeriodFor(Math.min(...enabled)), (now) => this.#check(now));
  }

  /** A session opened: make sure the sweep runs. */
  opened(): void {
    this.#sweep?.start();
  }

  /** No session is left: nothing to sweep. */
  idle(): void {
    this.#sweep?.stop();
  }

  /** `now` is the sweep's monotonic clock (performance.now()): a wall-clock step moves no deadline. */
  #check(now: number): void {
    const firstByte = this.#firstByteTimeout;
    const lifetime = this.#maxLifetime;
    const checkIdle = this.#idleTimeout > 0;
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
