/**
 * The one server lifecycle, shared by every transport: `idle -> binding -> listening -> closing ->
 * closed`, with idempotent `close`/`destroy` whose later callers share one completion
 * (docs/lifecycle.md).
 */
import { performance } from 'node:perf_hooks';
import { ErrorCode, InvalidOptionError, SwitchboardError } from '../core/errors.ts';
import { optionNames, optionsObject } from '../core/options.ts';
import { handlerFailure } from './handler-errors.ts';

/** The states of a server. */
export const ServerState = {
  IDLE: 'idle',
  BINDING: 'binding',
  LISTENING: 'listening',
  CLOSING: 'closing',
  CLOSED: 'closed',
} as const;
/** One of the {@link ServerState} values. */
export type ServerState = (typeof ServerState)[keyof typeof ServerState];

/** What a transport does at each step of closing. */
export interface TeardownSteps {
  /**
   * Stop accepting / receiving on every socket, and end what is not a session yet (TCP's pending
   * stage); resolves when those sockets are closed.
   */
  stopListening(): Promise<void>;
  /** Half-close every session (graceful). */
  endSessions(): void;
  /** Close every session at once. */
  destroySessions(): void;
  /** Resolves once no session is left. */
  drained(): Promise<void>;
}

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * How long to wait for peers to finish before destroying what is left, in ms: from 0 to
   * 2147483647 (the longest timer Node keeps, about 24.8 days), or `Infinity` for no deadline.
   * @default 10000
   */
  timeout?: number;
}

const CLOSE_OPTIONS = optionNames<CloseOptions>({ timeout: true });

/** The default graceful-close deadline. */
export const DEFAULT_CLOSE_TIMEOUT = 10_000;

/** The longest delay a Node timer honours; a longer one fires after 1 ms. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * Reports an exception thrown by a listener of a server event emitted while the server closes
 * (`close`, or a `rejected` for a connection the close refused): a process warning
 * `SWB_ERR_HANDLER_FAILED` with the thrown value as `cause`, so it is never lost and never
 * breaks the close.
 */
export function reportListenerFailure(event: string, error: unknown): void {
  process.emitWarning(handlerFailure(`a \`${event}\` listener threw`, error));
}

/** Drives a server through its states; the server supplies the transport's teardown steps. */
export class ServerLifecycle {
  #state: ServerState = ServerState.IDLE;
  readonly #steps: TeardownSteps;
  readonly #onClosed: () => void;
  #binding: Promise<unknown> | undefined;
  #closing: Promise<void> | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #deadlineAt = Infinity;
  #forced = false;
  #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => void this.close();
  readonly #closed: PromiseWithResolvers<void> = Promise.withResolvers<void>();

  constructor(steps: TeardownSteps, onClosed: () => void) {
    this.#steps = steps;
    this.#onClosed = onClosed;
  }

  get state(): ServerState {
    return this.#state;
  }

  /** Aborting `signal` closes the server gracefully (at once if it is already aborted). */
  closeOnAbort(signal: AbortSignal | undefined): void {
    if (!signal) return;
    if (signal.aborted) return void this.close();
    this.#signal = signal;
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Resolves once the server is closed; never rejects. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /**
   * Runs `bind` as the server's one listen attempt.
   * @throws {SwitchboardError} `SWB_ERR_ALREADY_LISTENING` or `SWB_ERR_SERVER_CLOSED`
   */
  async listen<T>(bind: () => Promise<T>, release: (bound: T) => Promise<void>, what: string): Promise<T> {
    if (this.#state === ServerState.BINDING || this.#state === ServerState.LISTENING) {
      throw new SwitchboardError(ErrorCode.ALREADY_LISTENING, `${what}: server is already ${this.#state}`);
    }
    if (this.#state !== ServerState.IDLE) throw new SwitchboardError(ErrorCode.SERVER_CLOSED, `${what}: server is ${this.#state}`);
    this.#state = ServerState.BINDING;
    const attempt = bind();
    this.#binding = attempt.catch(() => undefined);
    let bound: T;
    try {
      bound = await attempt;
    } catch (error) {
      if (this.#state === ServerState.BINDING) this.#state = ServerState.IDLE;
      throw error;
    }
    if (this.#state !== ServerState.BINDING) {
      // close() or destroy() arrived while we were binding: give the sockets back.
      await release(bound);
      throw new SwitchboardError(ErrorCode.SERVER_CLOSED, `${what}: server was closed while binding`);
    }
    this.#state = ServerState.LISTENING;
    return bound;
  }

  /**
   * Graceful close with a deadline; later calls share the completion and may only shorten the deadline.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a `timeout` outside 0-2147483647 ms (or `Infinity`)
   */
  close(options: CloseOptions = {}): Promise<void> {
    const timeout = optionsObject('options', options, CLOSE_OPTIONS).timeout ?? DEFAULT_CLOSE_TIMEOUT;
    if (typeof timeout !== 'number' || !((timeout >= 0 && timeout <= MAX_TIMER_DELAY) || timeout === Infinity)) {
      throw new InvalidOptionError('timeout', `must be a number of milliseconds from 0 to ${MAX_TIMER_DELAY}, or Infinity for no deadline`, timeout);
    }
    this.#begin(false);
    this.#armDeadline(timeout);
    return this.#closing!;
  }

  /** Forceful close: every session at once. Idempotent; shares the completion with `close()`. */
  destroy(): Promise<void> {
    this.#begin(true);
    this.#force();
    return this.#closing!;
  }

  #begin(forced: boolean): void {
    if (this.#closing) return;
    const wasIdle = this.#state === ServerState.IDLE;
    const wasBinding = this.#state === ServerState.BINDING;
    this.#state = ServerState.CLOSING;
    this.#forced = forced;
    this.#closing = wasIdle ? Promise.resolve().then(() => this.#finish()) : this.#teardown(wasBinding);
  }

  /** Listeners stop synchronously (so no connection is accepted after `close()` returns). */
  async #teardown(wasBinding: boolean): Promise<void> {
    if (wasBinding) await this.#binding;
    const listenersClosed = this.#steps.stopListening();
    if (this.#forced) this.#steps.destroySessions();
    else this.#steps.endSessions();
    await Promise.all([listenersClosed, this.#steps.drained()]);
    this.#finish();
  }

  /**
   * The server is closed: `closed` resolves first, then the transport emits `close`. A `close`
   * listener that throws is reported as a process warning; it never leaves `closed` pending nor
   * rejects `close()` (or, through the `signal`, becomes an unhandled rejection).
   */
  #finish(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = undefined;
    this.#state = ServerState.CLOSED;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = undefined;
    this.#closed.resolve();
    try {
      this.#onClosed();
    } catch (error) {
      reportListenerFailure('close', error);
    }
  }

  #armDeadline(timeout: number): void {
    if (this.#state === ServerState.CLOSED || this.#forced || timeout === Infinity) return;
    const at = performance.now() + timeout; // monotonic: a wall-clock step must not move the deadline
    if (at >= this.#deadlineAt) return;
    this.#deadlineAt = at;
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => this.#force(), timeout);
  }

  #force(): void {
    this.#forced = true;
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = undefined;
    // Sessions that arrive while binding is still settling are destroyed in #teardown.
    this.#steps.destroySessions();
  }
}
