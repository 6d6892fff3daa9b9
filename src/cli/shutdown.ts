/**
 * Serving until told to stop: the first SIGINT or SIGTERM closes gracefully within the drain
 * timeout, a second destroys at once (exit 128 + the signal's number), a third exits outright.
 * The handlers go in before anything binds, so a signal during startup is never the default
 * (instant) death, and stay until the process exits, so a late one is not either.
 *
 * A repeat of the same signal within {@link SIGNAL_REPEAT_MS} counts once: one request often
 * arrives twice. Under `npm start` a terminal's Ctrl-C reaches npm and the server (the whole
 * foreground process group), and npm forwards what it got; systemd's SIGTERM goes to every
 * process of the unit, npm included, which forwards it again.
 */
import { constants } from 'node:os';
import { formatDuration } from './args.ts';
import { ExitCode } from './exit-code.ts';
import type { Logger } from './logger.ts';

/** What a command stops. */
export interface Stoppable {
  /** Stop accepting and let sessions finish, for at most `timeout` ms. */
  close(timeout: number): Promise<void>;
  /** Close everything at once. */
  destroy(): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** A repeat of the same signal sooner than this after the last one is the same request, in ms. */
export const SIGNAL_REPEAT_MS = 500;

/** Catches SIGINT and SIGTERM from construction on, and stops a {@link Stoppable} on them. */
export class ShutdownSignals {
  #drainTimeout: number;
  readonly #log: Logger;
  readonly #received: NodeJS.Signals[] = [];
  readonly #onSignal = (signal: NodeJS.Signals): void => this.#arrived(signal);
  readonly #done = Promise.withResolvers<number>();
  #target: Stoppable | undefined;
  #exitCode: number = ExitCode.OK;
  #last: { readonly signal: NodeJS.Signals; readonly at: number } | undefined;
  #closed = false;

  /** @param drainTimeout how long the graceful close may take, in ms */
  constructor(drainTimeout: number, log: Logger) {
    this.#drainTimeout = drainTimeout;
    this.#log = log;
    for (const name of SIGNALS) process.on(name, this.#onSignal);
  }

  /** How long the graceful close may take, in ms (`up`'s reload may change it). */
  set drainTimeout(ms: number) {
    this.#drainTimeout = ms;
  }

  /** Whether a signal arrived (during startup, say). */
  get stopping(): boolean {
    return this.#received.length > 0;
  }

  /** Serves `target` until a signal closes it; resolves with the exit code. */
  serve(target: Stoppable): Promise<number> {
    this.#target = target;
    const early = this.#received.splice(0);
    for (const signal of early) this.#handle(signal);
    return this.#done.promise;
  }

  /** Removes the handlers (a command that ends without serving). */
  dispose(): void {
    for (const name of SIGNALS) process.off(name, this.#onSignal);
  }

  #arrived(signal: NodeJS.Signals): void {
    const now = performance.now();
    const last = this.#last;
    if (last?.signal === signal && now - last.at < SIGNAL_REPEAT_MS) return;
    this.#last = { signal, at: now };
    if (this.#closed) process.exit(this.#exitCode); // closed, yet something keeps us alive
    this.#handle(signal);
  }

  #handle(signal: NodeJS.Signals): void {
    const target = this.#target;
    if (!target) {
      this.#received.push(signal);
      return;
    }
    this.#received.push(signal);
    const count = this.#received.length;
    if (count === 1) {
      const drain = this.#drainTimeout;
      this.#log.info('closing', `closing on ${signal}: sessions have ${formatDuration(drain)} to finish (send it again to stop at once)`, { signal, drainTimeout: drain });
      void target.close(drain).then(() => {
        // The handlers stay (they keep no process alive): a duplicate arriving now is ignored
        // rather than killing the process by the signal's default action.
        this.#closed = true;
        this.#log.info('closed', 'closed', { exitCode: this.#exitCode });
        this.#done.resolve(this.#exitCode);
      });
    } else if (count === 2) {
      this.#exitCode = 128 + (constants.signals[signal] ?? 0);
      this.#log.warn('destroying', `${signal} again: closing every session now`, { signal });
      void target.destroy();
    } else {
      process.exit(this.#exitCode);
    }
  }
}
