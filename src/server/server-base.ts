/**
 * What the TCP and UDP servers share, written once (undici's DispatcherBase plays this part for
 * its dispatchers): the lifecycle -- `state`, `closed`, `listen()`, `close()`, `destroy()`,
 * `await using`, the `signal` option -- the bound addresses, and how warnings and runtime errors
 * reach the user. A transport supplies its binding and teardown steps.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ErrorCode, SwitchboardError, type Transport } from '../core/errors.ts';
import type { BoundAddress, BoundSocket } from '../net/listener-group.ts';
import { serverListenChannel } from './diagnostics.ts';
import { ServerLifecycle, ServerState, type CloseOptions } from './server-lifecycle.ts';

/** The events every server emits, whose arguments the base supplies (a transport adds its own). */
type ServerBaseEvent = 'listening' | 'close' | 'warning' | 'error';

/** How a server reports what goes wrong at run time. */
export interface ServerReporting {
  readonly transport: Transport;
  /**
   * With no `error` listener, errors become process warnings at most once per this many ms (so
   * a flood cannot flood the logs); 0 reports every one.
   */
  readonly warningInterval: number;
}

/**
 * The base of {@link TcpServer} and {@link UdpServer}. `Handle` is the transport's bound socket
 * (a `net.Server`, a `dgram.Socket`). @internal
 */
export abstract class ServerBase<Events extends Record<keyof Events, unknown[]>, Handle>
  extends EventEmitter<Events>
  implements AsyncDisposable
{
  readonly #reporting: ServerReporting;
  readonly #lifecycle: ServerLifecycle;
  #lastWarningAt = -Infinity;

  protected constructor(reporting: ServerReporting) {
    super();
    this.#reporting = reporting;
    this.#lifecycle = new ServerLifecycle(
      {
        stopListening: () => this.stopListening(),
        endSessions: () => this.endSessions(),
        destroySessions: () => this.destroySessions(),
        drained: () => this.drained(),
      },
      () => {
        this.closeFinished();
        this.#emit('close');
      },
    );
  }

  /** `idle`, `binding`, `listening`, `closing` or `closed`. */
  get state(): ServerState {
    return this.#lifecycle.state;
  }

  /** Resolves once every socket and session is closed; never rejects. */
  get closed(): Promise<void> {
    return this.#lifecycle.closed;
  }

  /** Every bound address: address, port, family, transport; empty until listening and once closed. */
  get addresses(): BoundAddress[] {
    return this.state === ServerState.CLOSED ? [] : this.boundAddresses();
  }

  /**
   * Binds every address (all or nothing) and starts serving.
   * @throws {ListenError} (rejects) listing every address that failed
   * @throws {SwitchboardError} (rejects) `SWB_ERR_ALREADY_LISTENING`, `SWB_ERR_SERVER_CLOSED`
   */
  listen(): Promise<BoundAddress[]> {
    if (serverListenChannel.hasSubscribers) return serverListenChannel.tracePromise(() => this.#listen(), { server: this, transport: this.#reporting.transport });
    return this.#listen();
  }

  async #listen(): Promise<BoundAddress[]> {
    const what = `listen ${this.#reporting.transport}`;
    await this.#lifecycle.listen(
      () => this.bind(),
      (bound) => this.release(bound),
      what,
    );
    // close() may have come in the microtasks since binding; the sockets are already its to close.
    if (this.state !== ServerState.LISTENING) throw new SwitchboardError(ErrorCode.SERVER_CLOSED, `${what}: server was closed while binding`);
    this.started();
    const addresses = this.addresses;
    this.#emit('listening', addresses);
    return addresses;
  }

  /**
   * Graceful close: stops listening at once, lets sessions (or handler promises and replies)
   * finish up to `timeout`, then destroys what is left. Resolves when every socket is closed.
   * Idempotent: later callers share the completion and may only shorten the deadline.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a `timeout` outside 0-2147483647 ms (or `Infinity`)
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /** Closes every socket at once. Idempotent; shares the completion with `close()`. */
  destroy(): Promise<void> {
    return this.#lifecycle.destroy();
  }

  /** `await using server = await listenTcp(...)` closes it gracefully. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Aborting `signal` closes the server gracefully (at once if it is already aborted). Call last in the constructor. */
  protected closeOnAbort(signal: AbortSignal | undefined): void {
    this.#lifecycle.closeOnAbort(signal);
  }

  /** Warnings are `warning` events, or process warnings when nobody listens, so none is lost. */
  protected warn(warning: SwitchboardError): void {
    if (this.#listens('warning')) this.#emit('warning', warning);
    else process.emitWarning(warning);
  }

  /**
   * Runtime failures are events, never exceptions: `error` (with `context`, e.g. the session
   * concerned) if anyone listens, else a process warning, at most once per `warningInterval`.
   */
  protected report(error: SwitchboardError, ...context: unknown[]): void {
    if (this.#listens('error')) {
      this.#emit('error', error, ...context);
      return;
    }
    const interval = this.#reporting.warningInterval;
    if (interval > 0) {
      const now = performance.now();
      if (now - this.#lastWarningAt < interval) return;
      this.#lastWarningAt = now;
    }
    process.emitWarning(error);
  }

  /** Resolves every address and binds them all, or rejects with nothing left bound. */
  protected abstract bind(): Promise<BoundSocket<Handle>[]>;
  /** Gives back sockets bound by a listen attempt that `close()` overtook. */
  protected abstract release(bound: readonly BoundSocket<Handle>[]): Promise<void>;
  /** The server is listening: start what runs while it does (before `listening` is emitted). */
  protected abstract started(): void;
  /** The addresses of the sockets bound now. */
  protected abstract boundAddresses(): BoundAddress[];
  /** Stop accepting / receiving on every socket; resolves when they are closed (see `TeardownSteps`). */
  protected abstract stopListening(): Promise<void>;
  /** Graceful close: let every session finish. */
  protected abstract endSessions(): void;
  /** Forceful close: end every session at once. */
  protected abstract destroySessions(): void;
  /** Resolves once nothing is left to wait for. */
  protected abstract drained(): Promise<void>;
  /** The server is closed, just before `close` is emitted. */
  protected closeFinished(): void {}

  #emit(event: ServerBaseEvent, ...args: unknown[]): void {
    (this as EventEmitter).emit(event, ...args);
  }

  #listens(event: ServerBaseEvent): boolean {
    return (this as EventEmitter).listenerCount(event) > 0;
  }
}
