/**
 * A UDP server: one socket per address (per interface address for wildcards), datagrams to a
 * handler or a `for await` loop, replies from the receiving socket, bounded by default (size,
 * per-source rate, amplification, queue), and the shared server lifecycle.
 */
import type { Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import type { ListenTarget } from '../net/addresses.ts';
import { AsyncQueue } from '../server/async-queue.ts';
import { ErrorCode, SwitchboardError, formatHostPort } from '../core/errors.ts';
import type { MaybePromise } from '../tcp/tcp-handlers.ts';
import { bindGroup, resolveGroupTargets, type BoundAddress, type BoundSocket, type SocketBinder } from '../net/listener-group.ts';
import { ServerLifecycle, type CloseOptions, type ServerState } from '../server/server-lifecycle.ts';
import type { Datagram } from './datagram.ts';
import { expandWildcardTargets, readUnbindableIPv6Addresses } from '../net/interface-addresses.ts';
import { RATE_TICK_MS, ReplyRateLimiter, SourceRateLimiter } from '../limits/source-rate-limiter.ts';
import { bindUdpSocket, closeUdpSocket, UdpEndpoint, type EndpointContext } from './udp-endpoint.ts';
import { DropReason, UdpLedger, type DropCounts, type UdpDropSummary } from './udp-ledger.ts';
import { normalizeUdpServerOptions, type NormalizedUdpServerOptions, type UdpServerOptions } from './udp-options.ts';

/**
 * Event style: `message` is called once per datagram; it may return a promise, which never holds
 * up receiving; while `maxInFlight` of them are pending, new datagrams are dropped (`max-in-flight`).
 */
export interface UdpEventHandler {
  message(datagram: Datagram): MaybePromise<unknown>;
}

/** What `listenUdp` serves datagrams with: an object with `message`, a function, or nothing to iterate with `for await`. */
export type UdpHandler = UdpEventHandler | ((datagram: Datagram) => MaybePromise<unknown>);

/**
 * The ledger `server.stats()` returns. Always
 * `datagramsIn = accepted + dropped['too-large'] + dropped['rate-limit'] + dropped['queue-full'] + dropped['max-in-flight']`;
 * replies asked for = `datagramsOut + pendingReplies + dropped.amplification + dropped['reply-rate-limit'] + dropped['send-failed'] + dropped.closed`.
 */
export interface UdpServerStats {
  /** Sockets open. */
  readonly sockets: number;
  /** Datagrams received from the kernel, dropped ones included. */
  readonly datagramsIn: number;
  readonly bytesIn: number;
  /** Datagrams handed to the handler or queued for the `for await` loop. */
  readonly accepted: number;
  /** Async style: datagrams waiting for the loop. */
  readonly queued: number;
  /** Handler promises not settled yet. */
  readonly inFlight: number;
  /** Replies the kernel accepted. */
  readonly datagramsOut: number;
  readonly bytesOut: number;
  /** Replies handed to the kernel whose outcome is not known yet. */
  readonly pendingReplies: number;
  /** Drops by reason, since the server was created. */
  readonly dropped: Readonly<DropCounts>;
  /** Sources with a rate-limit bucket of their own. */
  readonly sources: number;
}

/** The events a {@link UdpServer} emits, with their arguments. */
export interface UdpServerEvents {
  listening: [addresses: readonly BoundAddress[]];
  /** At most once per `dropReportInterval`: what was dropped, by reason. */
  drop: [summary: UdpDropSummary];
  close: [];
  warning: [warning: SwitchboardError];
  /** A handler failure, a refused reply or a failed send; each concerns one datagram. */
  error: [error: SwitchboardError];
}

/**
 * A UDP server. Construct it with {@link listenUdp} or `new UdpServer(options, handler)` then
 * `await server.listen()`.
 *
 * Errors: bad options throw at construction (`SWB_ERR_INVALID_OPTION`); `listen()` rejects with a
 * `ListenError`; a handler that throws (`SWB_ERR_HANDLER_FAILED`), a refused reply
 * (`SWB_ERR_AMPLIFICATION_REFUSED`) and a failed send (`SWB_ERR_SEND_FAILED`) concern one
 * datagram only and are `error` events — or, when nobody listens for `error`, a process warning
 * at most once per `dropReportInterval`. Drops are counted in `stats()` and summarised by `drop`;
 * datagrams over a limit and replies over `replyRateLimit` are only that (a flood costs no event
 * per datagram).
 *
 * Cancellation: `close({ timeout })` stops receiving at once, waits for handler promises and
 * queued replies up to `timeout`, then closes every socket; `destroy()`, the `signal` option and
 * `await using` as for TCP.
 */
export class UdpServer extends EventEmitter<UdpServerEvents> implements AsyncIterable<Datagram>, AsyncDisposable {
  readonly #options: NormalizedUdpServerOptions;
  readonly #handler: ((datagram: Datagram) => unknown) | undefined;
  readonly #lifecycle: ServerLifecycle;
  readonly #ledger: UdpLedger;
  readonly #limiter: SourceRateLimiter | undefined;
  readonly #replyLimiter: ReplyRateLimiter | undefined;
  readonly #context: EndpointContext;
  readonly #queue: AsyncQueue<Datagram> | undefined;
  #endpoints: UdpEndpoint[] = [];
  #socketsOpen = 0;
  #inFlight = 0;
  #draining = false;
  #ticker: NodeJS.Timeout | undefined;
  #lastWarningAt = -Infinity;

  /**
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for any invalid option or handler
   * @throws {SwitchboardError} `SWB_ERR_REUSE_PORT_UNSUPPORTED` when `reusePort` is unavailable
   */
  constructor(options?: UdpServerOptions, handler?: UdpHandler) {
    super();
    this.#options = normalizeUdpServerOptions(options);
    this.#handler = normalizeHandler(handler);
    if (this.#handler === undefined) this.#queue = new AsyncQueue();
    const settings = this.#options;
    this.#ledger = new UdpLedger(settings.dropReportInterval, (summary) => this.emit('drop', summary));
    this.#limiter = settings.rateLimit ? new SourceRateLimiter(settings.rateLimit) : undefined;
    this.#replyLimiter = settings.replyRateLimit > 0 ? new ReplyRateLimiter(settings.replyRateLimit) : undefined;
    this.#context = {
      ledger: this.#ledger,
      limiter: this.#limiter,
      replyLimiter: this.#replyLimiter,
      maxDatagramSize: settings.maxDatagramSize,
      maxAmplification: settings.maxAmplification,
      deliver: this.#handler === undefined ? this.#enqueue : this.#dispatch,
      report: (error) => this.#report(error),
      sendSettled: () => this.#closeSettledEndpoints(),
    };
    this.#lifecycle = new ServerLifecycle(
      {
        stopListening: () => this.#stopListening(),
        endSessions: () => {
          this.#draining = true;
          this.#closeSettledEndpoints();
        },
        destroySessions: () => {
          for (const endpoint of this.#endpoints) void endpoint.close();
        },
        drained: () => Promise.resolve(),
      },
      () => this.#finishClose(),
    );
    this.#lifecycle.closeOnAbort(settings.signal);
  }

  /** `idle`, `binding`, `listening`, `closing` or `closed`. */
  get state(): ServerState {
    return this.#lifecycle.state;
  }

  /** Every bound address: address, port, family, transport (`udp`). */
  get addresses(): BoundAddress[] {
    return this.#endpoints.map((endpoint) => endpoint.address);
  }

  /** Resolves once every socket is closed; never rejects. */
  get closed(): Promise<void> {
    return this.#lifecycle.closed;
  }

  /**
   * Binds every address (all or nothing) and starts receiving.
   * @throws {ListenError} (rejects) listing every address that failed
   * @throws {SwitchboardError} (rejects) `SWB_ERR_ALREADY_LISTENING`, `SWB_ERR_SERVER_CLOSED`
   */
  async listen(): Promise<BoundAddress[]> {
    const options = this.#options;
    await this.#lifecycle.listen(
      async () => {
        const resolved = await resolveGroupTargets(options.host, 'udp', { ipv6Only: options.ipv6Only, lookup: options.lookup, port: options.port });
        const targets = options.perInterface ? this.#expandPerInterface(resolved) : resolved;
        const bound = await bindGroup(targets, options.port, this.#binder(), {
          onSkip: (_target, warning) => this.#warn(warning),
        });
        // Known to the teardown from here on, whatever happens next.
        this.#endpoints = bound.map((socket) => this.#adopt(socket));
        return bound;
      },
      (sockets) => Promise.all(sockets.map((socket) => closeUdpSocket(socket.handle))).then(() => undefined),
      'listen udp',
    );
    if (this.state !== 'listening') throw new SwitchboardError(ErrorCode.SERVER_CLOSED, 'listen udp: server was closed while binding');
    for (const endpoint of this.#endpoints) endpoint.start();
    if (this.#limiter || this.#replyLimiter) {
      const limiter = this.#limiter;
      const replyLimiter = this.#replyLimiter;
      this.#ticker = setInterval(() => {
        limiter?.tick();
        replyLimiter?.tick();
      }, RATE_TICK_MS);
    }
    const addresses = this.addresses;
    this.emit('listening', addresses);
    return addresses;
  }

  /**
   * Stops receiving on every socket at once, waits up to `timeout` for handler promises and
   * queued replies, then closes every socket. Resolves when all are closed. Idempotent.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /** Closes every socket at once; replies still queued are cancelled. Idempotent. */
  destroy(): Promise<void> {
    return this.#lifecycle.destroy();
  }

  /** The ledger: sockets open, datagrams and bytes in and out, drops by reason. */
  stats(): UdpServerStats {
    const ledger = this.#ledger;
    let pendingReplies = 0;
    for (const endpoint of this.#endpoints) pendingReplies += endpoint.pendingSends;
    return {
      sockets: this.#socketsOpen,
      datagramsIn: ledger.datagramsIn,
      bytesIn: ledger.bytesIn,
      accepted: ledger.accepted,
      queued: this.#queue?.size ?? 0,
      inFlight: this.#inFlight,
      datagramsOut: ledger.datagramsOut,
      bytesOut: ledger.bytesOut,
      pendingReplies,
      dropped: { ...ledger.dropped },
      sources: this.#limiter?.sources ?? 0,
    };
  }

  /**
   * Datagrams as they arrive, when the server was created without a handler; ends when the
   * server closes. At most `maxQueuedDatagrams` wait; more are dropped (`queue-full`).
   * @example
   * for await (const datagram of server) datagram.reply(datagram.data);
   */
  [Symbol.asyncIterator](): AsyncIterator<Datagram> {
    if (!this.#queue) throw new SwitchboardError(ErrorCode.INVALID_OPTION, 'iterating datagrams needs a server created without a handler');
    return this.#queue[Symbol.asyncIterator]();
  }

  /** `await using server = await listenUdp(…)` closes it gracefully. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #adopt(socket: BoundSocket<Socket>): UdpEndpoint {
    const endpoint = new UdpEndpoint(socket, this.#context);
    this.#socketsOpen++;
    socket.handle.once('close', () => this.#socketsOpen--);
    return endpoint;
  }

  #binder(): SocketBinder<Socket> {
    const options = this.#options;
    return { transport: 'udp', bind: (target, port) => bindUdpSocket(target, port, options), close: closeUdpSocket };
  }

  #expandPerInterface(resolved: readonly ListenTarget[]): ListenTarget[] {
    const { targets, skipped } = expandWildcardTargets(resolved, networkInterfaces(), readUnbindableIPv6Addresses());
    for (const { host, requested, reason } of skipped) {
      this.#warn(new SwitchboardError(ErrorCode.ADDRESS_NOT_AVAILABLE, `not listening on ${formatHostPort(host, undefined)} for ${JSON.stringify(requested)}: ${reason}`));
    }
    return targets;
  }

  readonly #dispatch = (datagram: Datagram): void => {
    const cap = this.#options.maxInFlight;
    if (cap !== 0 && this.#inFlight >= cap) return this.#ledger.drop(DropReason.MAX_IN_FLIGHT);
    this.#ledger.accepted++;
    let result: unknown;
    try {
      result = this.#handler!(datagram);
    } catch (error) {
      this.#handlerFailed(datagram, error);
      return;
    }
    if (result != null && typeof (result as PromiseLike<unknown>).then === 'function') this.#track(result as PromiseLike<unknown>, datagram);
  };

  readonly #enqueue = (datagram: Datagram): void => {
    const queue = this.#queue!;
    if (queue.size >= this.#options.maxQueuedDatagrams) return this.#ledger.drop(DropReason.QUEUE_FULL);
    this.#ledger.accepted++;
    queue.push(datagram);
  };

  #track(pending: PromiseLike<unknown>, datagram: Datagram): void {
    this.#inFlight++;
    pending.then(
      () => this.#settled(),
      (error: unknown) => {
        this.#settled();
        this.#handlerFailed(datagram, error);
      },
    );
  }

  #settled(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) this.#closeSettledEndpoints();
  }

  #handlerFailed(datagram: Datagram, error: unknown): void {
    this.#ledger.drop(DropReason.HANDLER_FAILED);
    const message = error instanceof Error ? error.message : String(error);
    const from = formatHostPort(datagram.remoteAddress, datagram.remotePort);
    this.#report(new SwitchboardError(ErrorCode.HANDLER_FAILED, `udp message handler failed for a datagram from ${from}: ${message}`, { cause: error }));
  }

  /** Graceful close: a socket closes once no handler promise is pending and its replies are sent. */
  #closeSettledEndpoints(): void {
    if (!this.#draining || this.#inFlight > 0) return;
    for (const endpoint of this.#endpoints) if (endpoint.pendingSends === 0) void endpoint.close();
  }

  #stopListening(): Promise<void> {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
    for (const endpoint of this.#endpoints) endpoint.stopReceiving();
    for (const _ of this.#queue?.end() ?? []) this.#ledger.drop(DropReason.UNREAD);
    return Promise.all(this.#endpoints.map((endpoint) => endpoint.closed)).then(() => undefined);
  }

  #finishClose(): void {
    this.#limiter?.clear();
    this.#ledger.close();
    this.emit('close');
  }

  /** Warnings are `warning` events, or process warnings when nobody listens, so none is lost. */
  #warn(warning: SwitchboardError): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', warning);
    else process.emitWarning(warning);
  }

  /** Runtime failures are events: `error` if anyone listens, else a process warning at most once per interval. */
  #report(error: SwitchboardError): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', error);
      return;
    }
    const now = performance.now();
    if (now - this.#lastWarningAt < this.#options.dropReportInterval) return;
    this.#lastWarningAt = now;
    process.emitWarning(error);
  }
}

/**
 * Creates a UDP server, binds every address, and resolves once it is receiving.
 * @param handler `{ message(datagram) }`, a function of the datagram, or nothing to iterate datagrams with `for await`
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` synchronously for bad options
 * @throws {ListenError} (rejects) when any address fails to bind; nothing stays bound
 * @example
 * const udp = await listenUdp({ host: 'localhost', port: 7007 }, {
 *   message(datagram) { datagram.reply(datagram.data); },
 * });
 * console.log(udp.addresses); // 127.0.0.1:7007 and [::1]:7007
 */
export function listenUdp(options?: UdpServerOptions, handler?: UdpHandler): Promise<UdpServer> {
  const server = new UdpServer(options, handler);
  return server.listen().then(() => server);
}

function normalizeHandler(handler: UdpHandler | undefined): ((datagram: Datagram) => unknown) | undefined {
  if (handler === undefined) return undefined;
  if (typeof handler === 'function') return handler;
  if (typeof handler === 'object' && handler !== null && typeof handler.message === 'function') return handler.message.bind(handler);
  throw new SwitchboardError(ErrorCode.INVALID_OPTION, `\`handler\` must be a function or an object with a \`message\` function, got ${handler === null ? 'null' : typeof handler}`);
}
