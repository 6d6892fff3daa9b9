/**
 * A UDP server: one socket per address (per interface address for wildcards), datagrams to a
 * handler or a `for await` loop, replies from the receiving socket, bounded by default (size,
 * per-source rate, amplification, queue), and the shared server lifecycle.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { networkInterfaces } from 'node:os';
import type { ListenTarget } from '../net/addresses.ts';
import { AsyncQueue } from '../server/async-queue.ts';
import { ErrorCode, InvalidOptionError, SwitchboardError, formatHostPort } from '../core/errors.ts';
import type { MaybePromise } from '../tcp/tcp-handlers.ts';
import { bindGroup, resolveGroupTargets, type BoundAddress, type BoundSocket, type SocketBinder } from '../net/listener-group.ts';
import { checkHandlerCallbacks, handlerFailure } from '../server/handler-errors.ts';
import { ServerBase } from '../server/server-base.ts';
import type { Datagram } from './datagram.ts';
import { expandWildcardTargets, readUnbindableIPv6Addresses } from '../net/interface-addresses.ts';
import { RATE_TICK_MS, ReplyRateLimiter, SourceRateLimiter } from '../limits/source-rate-limiter.ts';
import { datagramDropChannel } from '../server/diagnostics.ts';
import { adoptUdpSocket, bindUdpSocket, closeUdpSocket, UdpEndpoint, type EndpointContext } from './udp-endpoint.ts';
import { adoptOpenSockets, adoptPassedSockets } from '../net/passed-sockets.ts';
import { DropCause, UdpLedger, type DropCounts, type UdpDropSummary } from './udp-ledger.ts';
import { normalizeUdpServerOptions, type NormalizedUdpServerOptions, type UdpServerOptions } from './udp-options.ts';
import { UdpProxyProtocol } from '../proxy/proxy-datagram.ts';
import type { ProxyStats } from '../proxy/proxy-stats.ts';

/**
 * Event style: `message` is called once per datagram; it may return a promise, which never holds
 * up receiving; while `maxInFlight` of them are pending, new datagrams are dropped (`max-in-flight`).
 * Any other function-valued key (a misspelt `mesage`) is refused when the server is built.
 */
export interface UdpEventHandler {
  message(datagram: Datagram): MaybePromise<unknown>;
}

/** The callback names of {@link UdpEventHandler}. */
const UDP_EVENT_CALLBACKS: readonly (keyof UdpEventHandler)[] = ['message'];

/** What `listenUdp` serves datagrams with: an object with `message`, a function, or nothing to iterate with `for await`. */
export type UdpHandler = UdpEventHandler | ((datagram: Datagram) => MaybePromise<unknown>);

/**
 * The ledger `server.stats()` returns. Always
 * `datagramsIn = accepted + dropped['too-large'] + dropped['proxy-untrusted'] + dropped['proxy-header'] + dropped['rate-limit'] + dropped['queue-full'] + dropped['max-in-flight']`;
 * replies asked for = `datagramsOut + pendingReplies + dropped.amplification + dropped['reply-rate-limit'] + dropped['send-failed'] + dropped.closed`.
 */
export interface UdpServerStats {
  /** Sockets open (bound and not closed yet), as TCP's `listeners`. */
  readonly listeners: number;
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
  /** Drops by cause, since the server was created (TCP's `rejectedBy` counts refusals the same way). */
  readonly dropped: Readonly<DropCounts>;
  /** Sources with a rate-limit bucket of their own. */
  readonly sources: number;
  /** PROXY headers read and refused, untrusted sources; only with the `proxyProtocol` option. */
  readonly proxy?: ProxyStats;
}

/** The events a {@link UdpServer} emits, with their arguments. */
export interface UdpServerEvents {
  listening: [addresses: readonly BoundAddress[]];
  /** At most once per `dropReportInterval`: what was dropped, by cause. */
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
 * datagram only and are `error` events -- or, when nobody listens for `error`, a process warning
 * at most once per `dropReportInterval`. Drops are counted in `stats()` and summarised by `drop`;
 * datagrams over a limit and replies over `replyRateLimit` are only that (a flood costs no event
 * per datagram).
 *
 * Cancellation: `close({ timeout })` stops receiving at once, waits for handler promises and
 * queued replies up to `timeout`, then closes every socket; `destroy()`, the `signal` option and
 * `await using` as for TCP.
 */
export class UdpServer extends ServerBase<UdpServerEvents, Socket> implements AsyncIterable<Datagram> {
  readonly #options: NormalizedUdpServerOptions;
  readonly #handler: ((datagram: Datagram) => unknown) | undefined;
  readonly #ledger: UdpLedger;
  readonly #limiter: SourceRateLimiter | undefined;
  readonly #replyLimiter: ReplyRateLimiter | undefined;
  readonly #context: EndpointContext;
  readonly #proxy: UdpProxyProtocol | undefined;
  readonly #queue: AsyncQueue<Datagram> | undefined;
  #endpoints: UdpEndpoint[] = [];
  #socketsOpen = 0;
  #inFlight = 0;
  #draining = false;
  #ticker: NodeJS.Timeout | undefined;

  /**
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for any invalid option or handler
   * @throws {SwitchboardError} `SWB_ERR_REUSE_PORT_UNSUPPORTED` when `reusePort` is unavailable
   */
  constructor(options?: UdpServerOptions, handler?: UdpHandler) {
    const settings = normalizeUdpServerOptions(options);
    const serve = normalizeHandler(handler);
    super({ transport: 'udp', warningInterval: settings.dropReportInterval });
    this.#options = settings;
    this.#handler = serve;
    if (serve === undefined) this.#queue = new AsyncQueue();
    this.#ledger = new UdpLedger(settings.dropReportInterval, (summary) => {
      if (datagramDropChannel.hasSubscribers) datagramDropChannel.publish({ server: this, summary });
      this.emit('drop', summary);
    });
    this.#limiter = settings.rateLimit ? new SourceRateLimiter(settings.rateLimit) : undefined;
    this.#replyLimiter = settings.replyRateLimit > 0 ? new ReplyRateLimiter(settings.replyRateLimit) : undefined;
    this.#proxy = settings.proxyProtocol === undefined ? undefined : new UdpProxyProtocol(settings.proxyProtocol, this);
    this.#context = {
      proxy: this.#proxy,
      ledger: this.#ledger,
      limiter: this.#limiter,
      replyLimiter: this.#replyLimiter,
      maxDatagramSize: settings.maxDatagramSize,
      maxAmplification: settings.maxAmplification,
      deliver: this.#handler === undefined ? this.#enqueue : this.#dispatch,
      report: (error) => this.report(error),
      sendSettled: () => this.#closeSettledEndpoints(),
    };
    this.closeOnAbort(settings.signal);
  }

  // close(): stops receiving on every socket at once, waits up to `timeout` for handler promises
  // and queued replies, then closes every socket. destroy(): closes every socket at once; replies
  // still queued are cancelled. Both from ServerBase.

  /** The ledger: sockets open, datagrams and bytes in and out, drops by reason. */
  stats(): UdpServerStats {
    const ledger = this.#ledger;
    let pendingReplies = 0;
    for (const endpoint of this.#endpoints) pendingReplies += endpoint.pendingSends;
    return {
      listeners: this.#socketsOpen,
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
      ...(this.#proxy === undefined ? {} : { proxy: this.#proxy.stats() }),
    };
  }

  /**
   * Datagrams as they arrive, when the server was created without a handler; ends when the
   * server closes. At most `maxQueuedDatagrams` wait; more are dropped (`queue-full`).
   * @example
   * for await (const datagram of server) datagram.reply(datagram.data);
   */
  [Symbol.asyncIterator](): AsyncIterator<Datagram> {
    if (!this.#queue) throw new InvalidOptionError('handler', 'must be left out to iterate datagrams with `for await`', this.#handler);
    return this.#queue[Symbol.asyncIterator]();
  }

  /**
   * The server's bound dgram sockets, for handing them to another process
   * (`subprocess.send(message, socket)`, as an upgrade does). They stay the server's: do not
   * close them or read from them.
   */
  sockets(): readonly Socket[] {
    return this.#endpoints.map((endpoint) => endpoint.socket);
  }

  /**
   * @internal Serves a datagram another process read from `socket` (one of {@link sockets}, whose
   * fd that process shares) exactly as if it had arrived here: the same limits, counters and
   * reply path. An upgrade relays what its primary read while it held the socket
   * (src/workers/). False when `socket` is not one this server receives on now.
   */
  receiveRelayed(socket: Socket, data: Buffer, remote: RemoteInfo): boolean {
    return this.#endpoints.find((endpoint) => endpoint.socket === socket)?.receive(data, remote) ?? false;
  }

  protected async bind(): Promise<BoundSocket<Socket>[]> {
    const options = this.#options;
    const bound =
      options.systemd !== undefined
        ? await adoptPassedSockets(options.systemd, 'udp', { adopt: (fd) => adoptUdpSocket(fd, options), close: closeUdpSocket })
        : options.fds !== undefined
          ? await adoptOpenSockets(options.fds, 'udp', { adopt: (fd) => adoptUdpSocket(fd, options, 'passed'), close: closeUdpSocket })
          : await this.#bindAddresses();
    // Known to the teardown from here on, whatever happens next.
    this.#endpoints = bound.map((socket) => this.#adopt(socket));
    return bound;
  }

  async #bindAddresses(): Promise<BoundSocket<Socket>[]> {
    const options = this.#options;
    const resolved = await resolveGroupTargets(options.host, 'udp', { ipv6Only: options.ipv6Only, lookup: options.lookup, port: options.port });
    const targets = options.perInterface ? this.#expandPerInterface(resolved) : resolved;
    return bindGroup(targets, options.port, this.#binder(), { onSkip: (_target, warning) => this.warn(warning) });
  }

  protected release(bound: readonly BoundSocket<Socket>[]): Promise<void> {
    return Promise.all(bound.map((socket) => closeUdpSocket(socket.handle))).then(() => undefined);
  }

  protected started(): void {
    for (const endpoint of this.#endpoints) endpoint.start();
    if (!this.#limiter && !this.#replyLimiter) return;
    const limiter = this.#limiter;
    const replyLimiter = this.#replyLimiter;
    this.#ticker = setInterval(() => {
      limiter?.tick();
      replyLimiter?.tick();
    }, RATE_TICK_MS);
  }

  protected boundAddresses(): BoundAddress[] {
    return this.#endpoints.map((endpoint) => endpoint.address);
  }

  protected endSessions(): void {
    this.#draining = true;
    this.#closeSettledEndpoints();
  }

  protected destroySessions(): void {
    for (const endpoint of this.#endpoints) void endpoint.close();
  }

  protected drained(): Promise<void> {
    return Promise.resolve();
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
      this.warn(new SwitchboardError(ErrorCode.ADDRESS_NOT_AVAILABLE, `not listening on ${formatHostPort(host, undefined)} for ${JSON.stringify(requested)}: ${reason}`));
    }
    return targets;
  }

  readonly #dispatch = (datagram: Datagram): void => {
    const cap = this.#options.maxInFlight;
    if (cap !== 0 && this.#inFlight >= cap) return this.#ledger.drop(DropCause.MAX_IN_FLIGHT);
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
    if (queue.size >= this.#options.maxQueuedDatagrams) return this.#ledger.drop(DropCause.QUEUE_FULL);
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
    this.#ledger.drop(DropCause.HANDLER_FAILED);
    const from = formatHostPort(datagram.remoteAddress, datagram.remotePort);
    this.report(handlerFailure(`udp message handler failed for a datagram from ${from}`, error));
  }

  /** Graceful close: a socket closes once no handler promise is pending and its replies are sent. */
  #closeSettledEndpoints(): void {
    if (!this.#draining || this.#inFlight > 0) return;
    for (const endpoint of this.#endpoints) if (endpoint.pendingSends === 0) void endpoint.close();
  }

  protected stopListening(): Promise<void> {
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = undefined;
    for (const endpoint of this.#endpoints) endpoint.stopReceiving();
    for (const _ of this.#queue?.end() ?? []) this.#ledger.drop(DropCause.UNREAD);
    return Promise.all(this.#endpoints.map((endpoint) => endpoint.closed)).then(() => undefined);
  }

  protected override closeFinished(): void {
    this.#limiter?.clear();
    this.#ledger.close();
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

/**
 * The handler as one function of the datagram.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the handler or the misspelt callback
 */
function normalizeHandler(handler: UdpHandler | undefined): ((datagram: Datagram) => unknown) | undefined {
  if (handler === undefined) return undefined;
  if (typeof handler === 'function') return handler;
  const constraint = 'must be a function or an object with a `message` function';
  if (typeof handler !== 'object' || handler === null) throw new InvalidOptionError('handler', constraint, handler);
  checkHandlerCallbacks(handler, UDP_EVENT_CALLBACKS);
  if (typeof handler.message !== 'function') throw new InvalidOptionError('handler', constraint, handler);
  return handler.message.bind(handler);
}
