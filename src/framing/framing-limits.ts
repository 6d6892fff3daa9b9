/**
 * What a framed session enforces beyond its codec, written once for both session styles: the
 * partial-frame deadline (slowloris) and the close on a codec error, with the last frame an
 * `onCodecError` hook may give. One {@link FramingLimits} per `framed()` handler; one
 * {@link PartialFrameClock} per session. One sweep per handler checks every clock, so chunks
 * never touch a timer: a session only records when its current partial frame began.
 */
import { performance } from 'node:perf_hooks';
import type { FrameCodec } from '../codecs/codec.ts';
import { CodecError } from '../codecs/codec-error.ts';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';
import { PeriodicSweep, sweepPeriodFor } from '../server/periodic-sweep.ts';
import { CloseCause } from '../tcp/close-reason.ts';
import { SessionState, type TcpSession } from '../tcp/tcp-session.ts';

/** A framed session of either style, as these limits see it. @internal */
export interface LimitedSession extends TcpSession {
  readonly codec: FrameCodec<unknown, unknown>;
  write(data: string | Uint8Array | readonly Uint8Array[]): unknown;
}

/** The hook that may give a last frame for a codec error (see `FramingOptions.onCodecError`). @internal */
export type CodecErrorHook = (error: CodecError, session: never) => unknown;

/** The limits of one `framed()` handler, after its options were checked. @internal */
export interface FramingLimitOptions {
  readonly partialFrameTimeout: number;
  readonly onCodecError: CodecErrorHook | undefined;
  readonly lastFrameTimeout: number;
}

/** The partial-frame sweep and the codec-error close of one `framed()` handler's sessions. @internal */
export class FramingLimits {
  readonly #partialFrameTimeout: number;
  readonly #onCodecError: ((error: CodecError, session: LimitedSession) => unknown) | undefined;
  readonly #lastFrameTimeout: number;
  readonly #clocks = new Set<PartialFrameClock>();
  readonly #sweep: PeriodicSweep | undefined;

  constructor(options: FramingLimitOptions) {
    this.#partialFrameTimeout = options.partialFrameTimeout;
    this.#onCodecError = options.onCodecError as ((error: CodecError, session: LimitedSession) => unknown) | undefined;
    this.#lastFrameTimeout = options.lastFrameTimeout;
    const timeout = options.partialFrameTimeout;
    if (timeout > 0) this.#sweep = new PeriodicSweep(sweepPeriodFor(timeout), (now) => this.#check(now));
  }

  /** Whether a codec error may be answered with a last frame: an `onCodecError` hook is set. */
  get answersCodecErrors(): boolean {
    return this.#onCodecError !== undefined;
  }

  /**
   * A new session's partial-frame clock. `reading(session)` says whether time passing now counts
   * against the peer: the session reads and waits on it (not held by a handler or `pause()`).
   */
  clockFor<S extends LimitedSession>(session: S, reading: (session: S) => boolean): PartialFrameClock {
    const clock = new PartialFrameClock(session, reading as (session: LimitedSession) => boolean, this);
    if (this.#sweep !== undefined) {
      this.#clocks.add(clock);
      this.#sweep.start();
    }
    return clock;
  }

  /** A clock's session closed: it is checked no more. */
  untrack(clock: PartialFrameClock): void {
    if (!this.#clocks.delete(clock) || this.#clocks.size > 0) return;
    this.#sweep?.stop();
  }

  /**
   * Closes `session` for `failure`, the error its codec threw on the peer's bytes. When the
   * `onCodecError` hook gives a frame (only for a `CodecError`, while the session is open), the
   * frame is encoded with the session's codec and written, then the session half-closes; it is
   * reset if it has not closed `lastFrameTimeout` ms later (a peer that does not read never holds
   * it, and the output cap applies to that write as to any). Otherwise the session closes at once.
   * `failure` is the close reason's error either way (unless that last write overflowed the cap).
   * @returns true when the session half-closed: its input must then be dropped until the peer's FIN
   * @throws whatever the hook, or encoding its frame, threw -- once the session is closed with `failure`
   */
  closeForCodecError(session: LimitedSession, cause: CloseCause, failure: SwitchboardError): boolean {
    const hook = this.#onCodecError;
    let last: Buffer | Buffer[] | undefined;
    if (hook !== undefined && failure instanceof CodecError && session.state === SessionState.OPEN) {
      try {
        const frame = hook(failure, session);
        if (frame !== undefined) last = session.codec.encode(frame);
      } catch (error) {
        session.terminate(cause, failure, false);
        throw error;
      }
    }
    if (last === undefined) {
      session.terminate(cause, failure, false);
      return false;
    }
    void session.write(last); // an async session's write never rejects unhandled
    session.terminate(cause, failure, true);
    if (this.#lastFrameTimeout > 0) {
      const timer = setTimeout(() => session.reset(cause, failure), this.#lastFrameTimeout).unref();
      void session.closed.then(() => clearTimeout(timer));
    }
    return true;
  }

  #check(now: number): void {
    for (const clock of this.#clocks) clock.check(now, this.#partialFrameTimeout);
  }
}

/** How long a framed session's current partial frame has been waited for. @internal */
export class PartialFrameClock {
  /** performance.now() when the current partial frame began; 0 when none is pending. */
  #since = 0;
  readonly #session: LimitedSession;
  readonly #reading: (session: LimitedSession) => boolean;
  readonly #limits: FramingLimits;

  constructor(session: LimitedSession, reading: (session: LimitedSession) => boolean, limits: FramingLimits) {
    this.#session = session;
    this.#reading = reading;
    this.#limits = limits;
  }

  /** After each chunk: the clock starts at a partial frame's first bytes and stops once none is pending. */
  decoded(pendingBytes: number): void {
    if (pendingBytes === 0) this.#since = 0;
    else if (this.#since === 0) this.#since = performance.now();
  }

  /** The stream ended or failed: no partial frame counts any more. */
  clear(): void {
    this.#since = 0;
  }

  /** The session closed. */
  stop(): void {
    this.#since = 0;
    this.#limits.untrack(this);
  }

  /** Closes the session when its partial frame is older than `timeout` ms of reading time at `now`. */
  check(now: number, timeout: number): void {
    const session = this.#session;
    if (this.#since === 0 || session.state === SessionState.CLOSED) return;
    // While reading is held (a handler, `pause()`, a busy reader), the peer is not the one to blame.
    if (!this.#reading(session)) {
      this.#since = now;
      return;
    }
    if (now - this.#since < timeout) return;
    session.terminate(CloseCause.LIMIT, partialFrameExpired(session.id, session.codec.pendingBytes, timeout), false);
  }
}

/** `SWB_ERR_DEADLINE_EXCEEDED` for a partial frame that did not complete in time. */
function partialFrameExpired(sessionId: number, pendingBytes: number, timeout: number): SwitchboardError {
  return new SwitchboardError(
    ErrorCode.DEADLINE_EXCEEDED,
    `session ${sessionId}: a partial frame (${pendingBytes} bytes) did not complete within partialFrameTimeout (${timeout} ms)`,
  );
}
