/**
 * A TCP server: one listening socket per resolved address, sessions with an exactly-once
 * lifecycle, and an orderly close (listeners first, then sessions).
 */
import type { Server, Socket } from 'node:net';
import type { ListenTarget } from '../net/addresses.ts';
import type { AccessRuleSet, AddressList } from '../limits/access-rules.ts';
import { Admission } from './admission.ts';
import { DescriptorWatch, descriptorWarning, isDescriptorExhaustion } from './descriptor-watch.ts';
import type { ThrottleLimits } from './limit-options.ts';
import { RejectCause, zeroRejectCounts, type RejectCounts, type RejectReason } from './reject-reason.ts';
import { SessionDeadlines } from './session-deadlines.ts';
import { AsyncQueue } from '../server/async-queue.ts';
import { AsyncSession } from './async-session.ts';
import { CloseCause, zeroCloseCounts, type CloseCounts, type CloseReason } from './close-reason.ts';
import { connectionRejectChannel, sessionCloseChannel, sessionOpenChannel } from '../server/diagnostics.ts';
import { goneConnectionInfo, readConnectionInfo, type ConnectionInfo } from './connection-info.ts';
import { ErrorCode, InvalidOptionError, SwitchboardError, opErrorFromSystem } from '../core/errors.ts';
import { EventSession } from './event-session.ts';
import { SessionProvider, TCP_EVENT_CALLBACKS, type TcpEventHandler, type TcpSessionFunction, type TcpHandler } from './tcp-handlers.ts';
import { bindGroup, boundAddressOf, resolveGroupTargets, type BoundAddress, type BoundSocket, type SocketBinder } from '../net/listener-group.ts';
import { checkTcpHandler, createSessionFor, startSessionFor } from './session-factory.ts';
import { deliverUnread, holdUnread } from './unread-bytes.ts';
import { PendingConnections, acceptHandlerStage, tlsHandshakeStage, type PendingStage } from './pending-connections.ts';
import { checkHandlerCallbacks, handlerFailure } from '../server/handler-errors.ts';
import { ServerBase } from '../server/server-base.ts';
import { ServerState } from '../server/server-lifecycle.ts';
import type { SessionHost, TcpSession } from './tcp-session.ts';
import { normalizeTcpServerOptions, type NormalizedTcpServerOptions, type TcpServerOptions } from './tcp-options.ts';
import { ServerTls, type TlsServerStats } from '../tls/server-tls.ts';
import type { TlsOptions } from '../tls/tls-options.ts';
import { adoptOpenListeners, adoptPassedListeners, createListener, inetdListener, type InetdListener } from './passed-listeners.ts';
import { TcpProxyProtocol } from '../proxy/proxy-stage.ts';
import type { ProxyStats } from '../proxy/proxy-stats.ts';

/**
 * The ledger `server.stats()` returns. At any time `accepted === closed + sessions + pending`
 * and `rejected` is the sum of `rejectedBy`; after close `listeners`, `sessions` and `pending`
 * are 0, so `accepted === closed`.
 */
export interface TcpServerStats {
  /** Listening sockets open. */
  readonly listeners: number;
  /** Sessions open. */
  readonly sessions: number;
  /** Accepted sockets that are not sessions and not closed yet: waiting on the `accept` handler, or refused and closing. */
  readonly pending: number;
  /** Connections accepted from the kernel, refused ones included. */
  readonly accepted: number;
  /** Accepted connections whose socket has closed. */
  readonly closed: number;
  /** Connections refused before a session opened. */
  readonly rejected: number;
  /** Accepted connections still waiting on a stage (the `accept` handler, the TLS handshake): neither opened nor refused yet, so `accepted === opened + rejected + waiting`. */
  readonly waiting: number;
  /** Sessions opened since the server was created: `opened === sessions + the sum of closedBy`. */
  readonly opened: number;
  /** Sessions closed, by cause. */
  readonly closedBy: Readonly<CloseCounts>;
  /** The most sessions open at once since the server was created. */
  readonly peakSessions: number;
  /** Refusals by cause, since the server was created (UDP's `dropped` counts drops the same way). */
  readonly rejectedBy: Readonly<RejectCounts>;
  /** Bytes received over every session. */
  readonly bytesIn: number;
  /** Bytes written over every session, including any still queued in the process. */
  readonly bytesOut: number;
  /** TLS handshakes (implicit and STARTTLS), failures by reason; only with the `tls` option. */
  readonly tls?: TlsServerStats;
  /** PROXY headers read and refused, untrusted sources; only with the `proxyProtocol` option. */
  readonly proxy?: ProxyStats;
}

/**
 * A connection refused before its session opened: the `rejected` event's argument. `cause` says
 * which rule or limit refused it -- `accept-hook`, `accept-timeout`, `closing`, `denied`,
 * `max-connections`, `peer-gone`, ... (docs/limits.md) -- and `error` what failed, when something did.
 */
export interface RejectedConnection extends RejectReason {
  readonly info: ConnectionInfo;
}

/** Options of `server.broadcast()`. */
export interface BroadcastOptions {
  /** A session to skip; `null` (or leaving it out) skips none. @default null */
  except?: TcpSession | null;
}

/** The events a {@link TcpServer} emits, with their arguments; `S` is its session type. */
export interface TcpServerEvents<S extends TcpSession = TcpSession> {
  listening: [addresses: readonly BoundAddress[]];
  session: [session: S];
  rejected: [rejection: RejectedConnection];
  /** The last open session closed: none is left (sessions may open again after it). */
  empty: [];
  close: [];
  warning: [warning: SwitchboardError];
  /** `session` is the one whose handler failed, when a session's handler did. */
  error: [error: SwitchboardError, session?: S];
}

/**
 * The handler a `TcpServer<S>` is built with: any handler for the default `TcpSession`; for a
 * narrower `S`, one that serves `S` (so an explicit type argument is checked against the handler).
 */
export type TcpHandlerFor<S extends TcpSession> = TcpSession extends S
  ? TcpHandler
  : S extends EventSession
    ? TcpEventHandler<S>
    : S extends AsyncSession
      ? TcpSessionFunction<S>
      : never;

/**
 * A TCP server. Construct it with {@link listenTcp} (which infers `S` from the handler) or
 * `new TcpServer<S>(options, handler)` then `await server.listen()`.
 * @typeParam S - the sessions it serves: `EventSession` for event handlers, `AsyncSession` for a
 * session function or `for await`, framing's sessions for `framed(...)` handlers.
 *
 * Errors: bad options throw at construction (`SWB_ERR_INVALID_OPTION`); `listen()` rejects with a
 * `ListenError`; a failing handler ends only its session and is reported on `error` (or as a
 * process warning when nobody listens for `error`). Nothing here throws asynchronously.
 *
 * Cancellation: `close({ timeout })`, `destroy()`, the `signal` option, or `await using`.
 */
export class TcpServer<S extends TcpSession = TcpSession> extends ServerBase<TcpServerEvents<S>, Server> implements AsyncIterable<AsyncSession> {
  readonly #options: NormalizedTcpServerOptions;
  readonly #handler: TcpHandler | undefined;
  /** Every listener adopted by this listen attempt. */
  #listeners: BoundSocket<Server>[] = [];
  readonly #openListeners = new Set<Server>();
  /** How to take this server's callbacks off each listener it adopted (for {@link handOver}). */
  readonly #detach = new Map<Server, () => void>();
  /** Listeners handed over by another server, adopted by `listen()` instead of binding. */
  #inherited: BoundSocket<Server>[] | undefined;
  readonly #sessions = new Set<S>();
  readonly #pending: PendingConnections;
  readonly #host: SessionHost;
  #nextSessionId = 1;
  #accepted = 0;
  #closedSockets = 0;
  #rejected = 0;
  readonly #rejectedBy: RejectCounts = zeroRejectCounts();
  readonly #closedBy: CloseCounts = zeroCloseCounts();
  #peakSessions = 0;
  #closedBytesIn = 0;
  #closedBytesOut = 0;
  #drainWaiters: (() => void)[] = [];
  /** Closed sessions whose handler promises are still pending. */
  readonly #unsettled = new Set<S>();
  #closingGracefully = false;
  #forcedClose = false;
  #queue: AsyncQueue<AsyncSession> | undefined;
  readonly #admission: Admission;
  readonly #deadlines: SessionDeadlines;
  readonly #descriptors: DescriptorWatch;
  /** The `tls` option's contexts and handshake counts (src/tls/server-tls.ts). */
  readonly #tls: ServerTls | undefined;
  /** inetd mode (`systemd: { inetd: true }`): the one passed connection, served once the server serves. */
  #inetd: InetdListener | undefined;
  /** The `proxyProtocol` option's trust decision, header stage and counters (src/proxy/proxy-stage.ts). */
  readonly #proxy: TcpProxyProtocol | undefined;

  /**
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for any invalid option or handler
   * @throws {SwitchboardError} `SWB_ERR_REUSE_PORT_UNSUPPORTED` for `reusePort` where SO_REUSEPORT is missing
   */
  constructor(options?: TcpServerOptions, handler?: NoInfer<TcpHandlerFor<S>>) {
    const settings = normalizeTcpServerOptions(options);
    checkTcpHandler(handler);
    super({ transport: 'tcp', warningInterval: 0 });
    this.#options = settings;
    this.#handler = handler;
    if (handler === undefined) this.#queue = new AsyncQueue();
    const limits = this.#options.limits;
    this.#tls = this.#options.tls === undefined ? undefined : new ServerTls(this.#options.tls, (warning) => this.warn(warning));
    this.#proxy = settings.proxyProtocol === undefined ? undefined : new TcpProxyProtocol(settings.proxyProtocol, this);
    this.#host = {
      tls: this.#tls,
      sessionClosed: (session, reason) => this.#sessionClosed(session as S, reason),
      handlerFailed: (session, error) => this.report(error, session),
      broadcast: (data, except) => this.broadcast(data, { except }),
      idleTimeoutSet: (ms) => this.#deadlines.idleTimeoutSet(ms),
      maxBufferedOutput: limits.maxBufferedOutput,
    };
    this.#admission = new Admission(limits);
    this.#pending = this.#pendingStage(handler, limits.acceptTimeout);
    this.#deadlines = new SessionDeadlines(this.#options.idleTimeout, limits.firstByteTimeout, limits.maxLifetime, this.#sessions);
    this.#descriptors = new DescriptorWatch((cause) => this.#descriptorsExhausted(cause));
    this.closeOnAbort(settings.signal);
  }

  // close(): stops accepting, refuses every pending connection (`closing`), half-closes every
  // session, waits for peers up to `timeout`, then destroys what is left. destroy(): closes every
  // listener, pending connection and session at once. Both from ServerBase.

  /** The ledger: sockets open, pending, accepted, closed, rejected, bytes in and out. */
  stats(): TcpServerStats {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const session of this.#sessions) {
      bytesIn += session.bytesRead;
      bytesOut += session.bytesWritten;
    }
    return {
      listeners: this.#openListeners.size,
      sessions: this.#sessions.size,
      pending: this.#pending.size,
      accepted: this.#accepted,
      closed: this.#closedSockets,
      rejected: this.#rejected,
      waiting: this.#pending.waiting,
      opened: this.#nextSessionId - 1,
      closedBy: { ...this.#closedBy },
      peakSessions: this.#peakSessions,
      rejectedBy: { ...this.#rejectedBy },
      bytesIn,
      bytesOut,
      ...(this.#tls === undefined ? {} : { tls: this.#tls.stats() }),
      ...(this.#proxy === undefined ? {} : { proxy: this.#proxy.stats() }),
    };
  }

  /**
   * Replaces the TLS material for the next handshakes (implicit and STARTTLS): the new options
   * (complete, as for the `tls` option) are checked and every context built first; on failure
   * the material in use stays. Sessions already open, and handshakes already running, are
   * untouched. Warns (`SWB_ERR_TLS_CERTIFICATE_EXPIRING`) when a new certificate expires soon.
   * @throws {SwitchboardError} `SWB_ERR_TLS_RELOAD_FAILED` (the failure as `cause`), also for a change of `tls.mode`;
   * `SWB_ERR_TLS_INVALID_STATE` on a server created without the `tls` option
   * @example
   * process.on('SIGHUP', () => server.setTls({ key: readFileSync('key.pem'), cert: readFileSync('cert.pem') }));
   */
  setTls(options: TlsOptions): void {
    if (this.#tls === undefined) throw new SwitchboardError(ErrorCode.TLS_INVALID_STATE, 'setTls: this server was created without the `tls` option');
    this.#tls.replace(options);
  }

  /** The open sessions. */
  sessions(): IterableIterator<S> {
    return this.#sessions.values();
  }

  /**
   * Changes the admission limits given (0 = no limit) and returns every limit now in force.
   * Lowering a limit never evicts a session; it refuses the next connections.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the limit; nothing changes then
   * @example
   * server.throttle({ maxConnections: 1000, maxConnectionsPerAddress: 10, acceptRate: 50 });
   */
  throttle(limits?: ThrottleLimits): Required<ThrottleLimits> {
    return this.#admission.throttle(limits);
  }

  /**
   * Refuses new connections (with `busyMessage`, if set) while keeping every listener bound; open
   * sessions carry on, and a connection pending on the `accept` handler is refused once it answers.
   */
  suspend(): void {
    this.#admission.suspended = true;
  }

  /** Accepts new connections again after {@link suspend}. */
  resume(): void {
    this.#admission.suspended = false;
  }

  /** Whether the server is suspended. */
  get suspended(): boolean {
    return this.#admission.suspended;
  }

  /**
   * Replaces the allow or deny list (or both) and returns the lists in force; checked before the
   * `accept` handler for connections arriving from now on, and again as pending ones open.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for an entry that is not an address or CIDR prefix
   * @example
   * server.setAccessRules({ deny: ['203.0.113.0/24', '2001:db8::/32'] });
   */
  setAccessRules(rules: AccessRuleSet): { allow: AddressList | null; deny: AddressList | null } {
    return this.#admission.setAccessRules(rules);
  }

  /** The allow and deny lists in force (`null` when there is none). */
  get accessRules(): { allow: AddressList | null; deny: AddressList | null } {
    return this.#admission.accessRules;
  }

  /**
   * Queues `data` on every open session and returns how many sessions it reached (those still
   * open and under their output cap). It reaches every session, wherever it is called from,
   * except `options.except`; `session.broadcast(data)` is the one that skips its own session.
   * @example
   * server.broadcast('* server restarting in 1 minute\r\n'); // to everyone
   */
  broadcast(data: string | Uint8Array | readonly Uint8Array[], options?: BroadcastOptions): number {
    const except = options?.except ?? null;
    const bytes = typeof data === 'string' ? Buffer.from(data) : Array.isArray(data) ? Buffer.concat(data) : (data as Uint8Array);
    let reached = 0;
    for (const session of this.#sessions) {
      if (session !== except && session.enqueue(bytes)) reached++;
    }
    return reached;
  }

  /**
   * Sessions as they open, when the server was created without a handler; ends when the server closes.
   * @example
   * for await (const session of server) serve(session);
   */
  [Symbol.asyncIterator](): AsyncIterator<AsyncSession> {
    if (!this.#queue) throw new InvalidOptionError('handler', 'must be left out to iterate sessions with `for await`', this.#handler);
    return this.#queue[Symbol.asyncIterator]();
  }

  /**
   * Hands this server's listening sockets to `next`, a server that has not listened yet: from
   * now on every connection they accept is `next`'s -- nothing is closed and rebound, so no
   * connection is refused in between -- and `next` is listening when the promise resolves (with
   * its addresses). This server keeps its sessions and stays `listening` on no socket:
   * `close()` it to drain them. `next`'s `host`, `port`, `backlog`, `exclusive`, `reusePort` and
   * `ipv6Only` are not used (it has these sockets); the options its sockets apply to each
   * connection must be this server's (`noDelay`, `keepAlive`, `keepAliveInitialDelay`,
   * `highWaterMark`). Everything else -- handler, limits, deadlines, `tls` -- may differ.
   * @throws {SwitchboardError} `SWB_ERR_SERVER_CLOSED` (rejects) unless this server is listening; `SWB_ERR_ALREADY_LISTENING` when `next` has listened
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` (rejects) naming a per-connection socket option that differs; nothing changes then
   * @example
   * const next = new TcpServer({ ...options, idleTimeout: 60_000 }, newHandler);
   * await server.handOver(next); // next accepts from now on
   * await server.close();        // the old sessions drain
   */
  async handOver(next: TcpServer): Promise<BoundAddress[]> {
    if (this.state !== ServerState.LISTENING) throw new SwitchboardError(ErrorCode.SERVER_CLOSED, `handOver: this server is ${this.state}, not listening`);
    if (next === this) throw new InvalidOptionError('next', 'must be another server', next);
    if (next.state !== ServerState.IDLE) throw new SwitchboardError(ErrorCode.ALREADY_LISTENING, `handOver: the next server is ${next.state}, not idle`);
    const mine = this.#options;
    const theirs = next.#options;
    for (const [name, a, b] of [
      ['noDelay', mine.noDelay, theirs.noDelay],
      ['keepAlive', mine.keepAlive, theirs.keepAlive],
      ['keepAliveInitialDelay', mine.keepAliveInitialDelay, theirs.keepAliveInitialDelay],
      ['highWaterMark', mine.limits.highWaterMark, theirs.limits.highWaterMark],
    ] as const) {
      if (a !== b) throw new InvalidOptionError(name, `must be the same on both servers to hand the sockets over (they apply it to each connection): ${String(a)} here`, b);
    }
    // Synchronously, so no connection event falls between the two: ours off, theirs on (in next's bind()).
    const listeners = this.#listeners;
    for (const listener of listeners) this.#detach.get(listener.handle)?.();
    this.#detach.clear();
    this.#listeners = [];
    this.#openListeners.clear();
    next.#inherited = listeners;
    return next.listen();
  }

  protected async bind(): Promise<BoundSocket<Server>[]> {
    const inherited = this.#inherited;
    if (inherited !== undefined) {
      this.#inherited = undefined;
      for (const listener of inherited) this.#adopt(listener);
      return inherited;
    }
    const options = this.#options;
    if (options.systemd?.inetd === true) {
      this.#inetd = inetdListener(options, options.systemd, (listener) => this.#adopt(listener));
      return this.#inetd.bound;
    }
    if (options.systemd !== undefined) return adoptPassedListeners(options, options.systemd, (listener) => this.#adopt(listener), (handle) => this.#releaseListener(handle));
    if (options.fds !== undefined) return adoptOpenListeners(options, options.fds, (listener) => this.#adopt(listener), (handle) => this.#releaseListener(handle));
    const targets = await resolveGroupTargets(options.host, 'tcp', { ipv6Only: options.ipv6Only, lookup: options.lookup, port: options.port });
    return bindGroup(targets, options.port, this.#binder(), { onSkip: (_target, warning) => this.warn(warning) });
  }

  protected release(bound: readonly BoundSocket<Server>[]): Promise<void> {
    this.#inetd?.abandon();
    return Promise.all(bound.map((listener) => this.#releaseListener(listener.handle))).then(() => undefined);
  }

  protected started(): void {
    this.#descriptors.start();
    this.#tls?.start();
    this.#inetd?.serve();
  }

  protected boundAddresses(): BoundAddress[] {
    return this.#listeners.map((listener) => listener.address);
  }

  protected endSessions(): void {
    this.#terminateSessions(CloseCause.SERVER_CLOSE, true);
  }

  protected destroySessions(): void {
    this.#terminateSessions(CloseCause.SERVER_DESTROY, false);
  }

  #binder(): SocketBinder<Server> {
    const options = this.#options;
    return {
      transport: 'tcp',
      bind: (target, port) => bindListener(target, port, options, (handle, bound) => this.#adopt({ handle, target, address: boundAddressOf(target, bound, 'tcp') })),
      close: (handle) => this.#releaseListener(handle),
    };
  }

  /** A listener is the server's from its `listening` event on: nothing it accepts goes unowned. */
  #adopt(listener: BoundSocket<Server>): void {
    this.#listeners.push(listener);
    this.#openListeners.add(listener.handle);
    const onConnection = (socket: Socket): void => this.#accept(socket, listener.address);
    const onError = (error: Error): void => this.#acceptFailed(listener.address, error);
    listener.handle.on('connection', onConnection);
    listener.handle.on('error', onError);
    this.#detach.set(listener.handle, () => {
      listener.handle.off('connection', onConnection);
      listener.handle.off('error', onError);
    });
  }

  /** Gives back a listener of a group that failed to bind (or was closed while binding). */
  #releaseListener(handle: Server): Promise<void> {
    this.#openListeners.delete(handle);
    this.#detach.delete(handle);
    this.#listeners = this.#listeners.filter((listener) => listener.handle !== handle);
    return closeListener(handle);
  }

  /** The stages between accept and open: the PROXY header, the `accept` handler, the TLS handshake, each when configured. */
  #pendingStage(handler: TcpHandler | undefined, acceptTimeout: number): PendingConnections {
    const stages: PendingStage[] = [];
    if (this.#proxy !== undefined) stages.push(this.#proxy.stage);
    const accept = (handler as TcpEventHandler | undefined)?.accept;
    if (typeof accept === 'function') stages.push(acceptHandlerStage(accept, handler, acceptTimeout));
    if (this.#tls?.mode === 'implicit') stages.push(tlsHandshakeStage(this.#tls));
    return new PendingConnections(stages, {
      recheck: (info) => (this.state !== ServerState.LISTENING ? RejectCause.CLOSING : this.#admission.screen(info)),
      readmit: (info, previous) => {
        if (previous !== undefined) this.#admission.released(previous.remoteAddress);
        return this.#admission.screen(info) ?? this.#admission.admitAddress(info);
      },
      open: (socket, info, unread) => this.#open(socket, info, unread),
      refused: (info, cause, reserved, error) => {
        this.#rejected++;
        this.#rejectedBy[cause]++;
        if (reserved) this.#admission.released(info.remoteAddress);
        if (connectionRejectChannel.hasSubscribers) connectionRejectChannel.publish({ server: this, info, cause, error });
        this.emit('rejected', { info, cause, error });
      },
      closed: () => void this.#closedSockets++,
      failed: (stage, info, error) => {
        const failure = handlerFailure(`${stage.name} failed for ${info.remoteAddress}:${info.remotePort}`, error);
        this.report(failure);
        return failure;
      },
      busyMessageFor: (reason) => this.#admission.busyMessageFor(reason),
    });
  }

  /**
   * Every socket is owned from here: refused at once (peer already gone, closing, a list, a
   * limit) or, holding its slot in the limits, handed to the pending stage, which opens it.
   */
  #accept(socket: Socket, listening: BoundAddress): void {
    this.#accepted++;
    const info = readConnectionInfo(socket, listening);
    if (info === undefined) return this.#pending.refuse(socket, goneConnectionInfo(listening), RejectCause.PEER_GONE);
    if (this.state !== ServerState.LISTENING) return this.#pending.refuse(socket, info, RejectCause.CLOSING);
    // Behind a trusted balancer the lists and the per-address count wait for the client the header names.
    const relayed = this.#proxy?.admission(info);
    if (relayed === 'refuse') return this.#pending.refuse(socket, info, RejectCause.PROXY_UNTRUSTED);
    const occupied = this.#sessions.size + this.#pending.waiting;
    const refused = relayed === 'header' ? this.#admission.admitRelayed(occupied) : (this.#admission.screen(info) ?? this.#admission.admit(info, occupied));
    if (refused !== undefined) return this.#pending.refuse(socket, info, refused);
    this.#pending.admit(socket, info, relayed !== 'header');
  }

  #open(socket: Socket, info: ConnectionInfo, unread?: Buffer): void {
    const id = this.#nextSessionId++;
    const handler = this.#handler;
    const idleTimeout = this.#options.idleTimeout;
    // S is what the handler serves: its own factory's class, or the one chosen for it.
    const session = createSessionFor(handler, id, socket, info, this.#host, idleTimeout) as S;
    this.#sessions.add(session);
    if (this.#sessions.size > this.#peakSessions) this.#peakSessions = this.#sessions.size;
    if (sessionOpenChannel.hasSubscribers) sessionOpenChannel.publish({ server: this, session });
    this.#deadlines.opened();
    this.emit('session', session);
    if (unread !== undefined) holdUnread(socket, unread);
    if (!startSessionFor(handler, session)) this.#queue!.push(session as TcpSession as AsyncSession);
    if (unread !== undefined) deliverUnread(socket);
  }

  #sessionClosed(session: S, reason: CloseReason): void {
    this.#sessions.delete(session);
    this.#closedBy[reason.cause]++;
    this.#admission.released(session.remoteAddress);
    this.#closedSockets++;
    this.#closedBytesIn += session.bytesRead;
    this.#closedBytesOut += session.bytesWritten;
    if (sessionCloseChannel.hasSubscribers) sessionCloseChannel.publish({ server: this, session, reason });
    if (session.busy) {
      // Its socket is gone but a handler promise still runs: a graceful close waits for it too.
      this.#unsettled.add(session);
      session.whenSettled(() => {
        this.#unsettled.delete(session);
        this.#wakeDrainWaiters();
      });
    }
    if (this.#sessions.size > 0) return;
    this.#deadlines.idle();
    this.emit('empty');
    this.#wakeDrainWaiters();
  }

  /** Every session is closed and, unless the close was forced, every handler promise has settled. */
  #isDrained(): boolean {
    return this.#sessions.size === 0 && (this.#unsettled.size === 0 || this.#forcedClose);
  }

  #wakeDrainWaiters(): void {
    if (!this.#isDrained()) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  protected drained(): Promise<void> {
    if (this.#isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /**
   * Graceful: every session is told the server is closing and half-closes once it waits on its
   * peer. Forced: at the close deadline (or a `destroy()` during a graceful close) what is left
   * did not finish in time and is reset, so no kernel buffer is left holding output for a peer
   * that does not read; a `destroy()` alone closes every socket at once. A forced close does not
   * wait for handler promises.
   */
  #terminateSessions(cause: CloseCause, graceful: boolean): void {
    if (graceful) {
      this.#closingGracefully = true;
      for (const session of this.#sessions) session.closeWhenIdle();
      return;
    }
    this.#forcedClose = true;
    for (const session of this.#sessions) {
      if (this.#closingGracefully) session.reset(CloseCause.SERVER_CLOSE);
      else session.terminate(cause, undefined, false);
    }
    this.#wakeDrainWaiters();
  }

  protected async stopListening(): Promise<void> {
    for (const unclaimed of this.#queue?.end() ?? []) unclaimed.unclaimed();
    this.#descriptors.stop();
    // net.Server#close closes the listening handle at once; its callback waits for the
    // connections it accepted, which the session teardown and the pending stage close.
    const closing = [...this.#openListeners].map((listener) => closeListener(listener));
    this.#openListeners.clear();
    // Sockets not yet sessions will never be: refused (`closing`) and destroyed at once.
    this.#pending.destroyAll(RejectCause.CLOSING);
    await Promise.all([...closing, this.#pending.empty()]);
  }

  protected override closeFinished(): void {
    this.#tls?.stop();
  }

  #acceptFailed(address: BoundAddress, error: Error): void {
    if (isDescriptorExhaustion(error)) return this.#descriptors.failed(error);
    this.report(opErrorFromSystem({ op: 'accept', transport: 'tcp', ...hostPort(address) }, error));
  }

  /** Out of descriptors: a `warning` (libuv resets the pending connections meanwhile), never an error. */
  #descriptorsExhausted(cause: NodeJS.ErrnoException): void {
    const first = this.#listeners[0]?.address;
    this.warn(descriptorWarning({ op: 'accept', transport: 'tcp', ...(first ? hostPort(first) : {}) }, cause));
  }
}

/**
 * Creates a TCP server, binds every address, and resolves once it is listening. The server's
 * session type follows the handler: `EventSession` for event handlers, `AsyncSession` for a
 * session function or none, a framed session for `framed(...)`.
 * @param handler event handlers, a session function, or nothing to iterate sessions with `for await`
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` synchronously for bad options
 * @throws {ListenError} (rejects) when any address fails to bind; nothing stays bound
 * @example
 * const server = await listenTcp({ host: 'localhost', port: 7007 }, {
 *   data(session, chunk) { session.write(chunk); },
 * });
 * console.log(server.addresses); // 127.0.0.1:7007 and [::1]:7007
 */
export function listenTcp<S extends EventSession = EventSession>(options: TcpServerOptions | undefined, handler: TcpEventHandler<S>): Promise<TcpServer<S>>;
export function listenTcp<S extends AsyncSession = AsyncSession>(options: TcpServerOptions | undefined, handler: TcpSessionFunction<S>): Promise<TcpServer<S>>;
export function listenTcp<S extends TcpSession>(options: TcpServerOptions | undefined, handler: SessionProvider<S>): Promise<TcpServer<S>>;
export function listenTcp(options?: TcpServerOptions): Promise<TcpServer<AsyncSession>>;
export function listenTcp(options?: TcpServerOptions, handler?: TcpHandler): Promise<TcpServer>;
export function listenTcp(options?: TcpServerOptions, handler?: TcpHandler): Promise<TcpServer> {
  const server = new TcpServer(options, handler);
  return server.listen().then(() => server);
}

/** Binds one listener; `adopt` takes it inside its `listening` event, before any connection can arrive. */
function bindListener(
  target: ListenTarget,
  port: number,
  options: NormalizedTcpServerOptions,
  adopt: (server: Server, port: number) => void,
): Promise<{ handle: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createListener(options);
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      adopt(server, bound);
      resolve({ handle: server, port: bound });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({
      host: target.host,
      port,
      backlog: options.backlog,
      ipv6Only: target.family === 'IPv6' ? target.ipv6Only : false,
      exclusive: options.exclusive,
      ...(options.reusePort ? { reusePort: true } : {}),
    });
  });
}

/** Closes a listener; resolves once the handle and every connection it accepted are closed. */
function closeListener(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

function hostPort(address: BoundAddress): { address: string; port: number } {
  return { address: address.address, port: address.port };
}

