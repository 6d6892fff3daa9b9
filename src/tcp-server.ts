/**
 * A TCP server: one listening socket per resolved address, sessions with an exactly-once
 * lifecycle, and an orderly close (listeners first, then sessions).
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenTarget } from './addresses.ts';
import type { AccessRuleSet, AddressList } from './admission/access-rules.ts';
import { Admission } from './admission/admission.ts';
import { DescriptorWatch, descriptorWarning, isDescriptorExhaustion } from './admission/descriptor-watch.ts';
import type { ThrottleLimits } from './admission/limit-options.ts';
import { RejectReason } from './admission/reject-reason.ts';
import { SessionDeadlines } from './admission/session-deadlines.ts';
import { AsyncQueue } from './async-queue.ts';
import { AsyncSession } from './async-session.ts';
import { CloseCause, type CloseReason } from './close-reason.ts';
import { readConnectionInfo, type ConnectionInfo } from './connection-info.ts';
import { ErrorCode, InvalidOptionError, SwitchboardError, opErrorFromSystem } from './errors.ts';
import { EventSession } from './event-session.ts';
import { kCreateSession, type EventHandler, type SessionFunction, type SessionSource, type TcpHandler } from './handlers.ts';
import { bindGroup, resolveGroupTargets, type BoundAddress, type BoundSocket, type SocketBinder } from './listener-group.ts';
import { ServerLifecycle, type CloseOptions, type ServerState } from './server-lifecycle.ts';
import type { SessionHost, TcpSession } from './session.ts';
import { normalizeTcpServerOptions, type NormalizedTcpServerOptions, type TcpServerOptions } from './tcp-options.ts';

/** The ledger `server.stats()` returns. After close: `listeners` and `sessions` are 0 and `accepted === closed`. */
export interface TcpServerStats {
  /** Listening sockets open. */
  readonly listeners: number;
  /** Sessions open. */
  readonly sessions: number;
  /** Connections accepted from the kernel, refused ones included. */
  readonly accepted: number;
  /** Accepted connections whose socket has closed. */
  readonly closed: number;
  /** Connections refused before a session opened. */
  readonly rejected: number;
  /** Bytes received over every session. */
  readonly bytesIn: number;
  /** Bytes written over every session, including any still queued in the process. */
  readonly bytesOut: number;
}

/** Why a connection was refused before its session opened. */
export interface RejectedConnection {
  readonly info: ConnectionInfo;
  /** Which rule or limit refused it: `accept-hook`, `closing`, `denied`, `max-connections`, … (docs/limits.md). */
  readonly reason: RejectReason;
}

/** Options of `server.broadcast()`. */
export interface BroadcastOptions {
  /** A session to skip; `null` (or leaving it out) skips none. @default null */
  except?: TcpSession | null;
}

/** The events a {@link TcpServer} emits, with their arguments. */
export interface TcpServerEvents {
  listening: [addresses: readonly BoundAddress[]];
  session: [session: TcpSession];
  rejected: [rejection: RejectedConnection];
  idle: [];
  close: [];
  warning: [warning: SwitchboardError];
  error: [error: SwitchboardError];
}

/**
 * A TCP server. Construct it with {@link listen} or `new TcpServer(options, handler)` then
 * `await server.listen()`.
 *
 * Errors: bad options throw at construction (`SWB_ERR_INVALID_OPTION`); `listen()` rejects with a
 * `ListenError`; a failing handler ends only its session and is reported on `error` (or as a
 * process warning when nobody listens for `error`). Nothing here throws asynchronously.
 *
 * Cancellation: `close({ timeout })`, `destroy()`, the `signal` option, or `await using`.
 */
export class TcpServer extends EventEmitter<TcpServerEvents> implements AsyncIterable<AsyncSession>, AsyncDisposable {
  readonly #options: NormalizedTcpServerOptions;
  readonly #handler: TcpHandler | undefined;
  readonly #lifecycle: ServerLifecycle;
  #listeners: BoundSocket<Server>[] = [];
  #listenersOpen = 0;
  readonly #sessions = new Set<TcpSession>();
  readonly #host: SessionHost;
  #nextSessionId = 1;
  #accepted = 0;
  #closedSockets = 0;
  #rejected = 0;
  #closedBytesIn = 0;
  #closedBytesOut = 0;
  #drainWaiters: (() => void)[] = [];
  /** Closed sessions whose handler promises are still pending. */
  readonly #unsettled = new Set<TcpSession>();
  #closingGracefully = false;
  #forcedClose = false;
  #queue: AsyncQueue<AsyncSession> | undefined;
  readonly #admission: Admission;
  readonly #deadlines: SessionDeadlines;
  readonly #descriptors: DescriptorWatch;

  /**
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for any invalid option or handler
   * @throws {SwitchboardError} `SWB_ERR_REUSE_PORT_UNSUPPORTED` for `reusePort` where SO_REUSEPORT is missing
   */
  constructor(options?: TcpServerOptions, handler?: TcpHandler) {
    super();
    this.#options = normalizeTcpServerOptions(options);
    if (handler !== undefined && typeof handler !== 'function' && (typeof handler !== 'object' || handler === null)) {
      throw new InvalidOptionError('handler', 'must be an object of event handlers or a session function', handler);
    }
    this.#handler = handler;
    if (handler === undefined) this.#queue = new AsyncQueue();
    const limits = this.#options.limits;
    this.#host = {
      sessionClosed: (session, reason) => this.#sessionClosed(session, reason),
      handlerFailed: (_session, error) => this.#report(error),
      broadcast: (data, except) => this.broadcast(data, { except }),
      maxBufferedOutput: limits.maxBufferedOutput,
    };
    this.#admission = new Admission(limits);
    this.#deadlines = new SessionDeadlines(this.#options.idleTimeout, limits.firstByteTimeout, limits.maxLifetime, this.#sessions);
    this.#descriptors = new DescriptorWatch((cause) => this.#descriptorsExhausted(cause));
    this.#lifecycle = new ServerLifecycle(
      {
        stopListening: () => this.#stopListening(),
        endSessions: () => this.#terminateSessions(CloseCause.SERVER_CLOSE, true),
        destroySessions: () => this.#terminateSessions(CloseCause.SERVER_DESTROY, false),
        drained: () => this.#drained(),
      },
      () => this.#finishClose(),
    );
    this.#lifecycle.closeOnAbort(this.#options.signal);
  }

  /** `idle`, `binding`, `listening`, `closing` or `closed`. */
  get state(): ServerState {
    return this.#lifecycle.state;
  }

  /** Every bound address: address, port, family, transport. */
  get addresses(): BoundAddress[] {
    return this.#listeners.map((listener) => listener.address);
  }

  /** Resolves once every listener and session is closed; never rejects. */
  get closed(): Promise<void> {
    return this.#lifecycle.closed;
  }

  /**
   * Binds every address (all or nothing) and starts accepting.
   * @throws {ListenError} (rejects) listing every address that failed
   * @throws {SwitchboardError} (rejects) `SWB_ERR_ALREADY_LISTENING`, `SWB_ERR_SERVER_CLOSED`
   */
  async listen(): Promise<BoundAddress[]> {
    const options = this.#options;
    this.#listeners = await this.#lifecycle.listen(
      async () => {
        const targets = await resolveGroupTargets(options.host, 'tcp', { ipv6Only: options.ipv6Only, lookup: options.lookup, port: options.port });
        return bindGroup(targets, options.port, this.#binder(), {
          onSkip: (_target, warning) => this.#warn(warning),
        });
      },
      (bound) => Promise.all(bound.map((listener) => closeListener(listener.handle))).then(() => undefined),
      'listen tcp',
    );
    this.#listenersOpen = this.#listeners.length;
    for (const listener of this.#listeners) {
      listener.handle.on('connection', (socket: Socket) => this.#accept(socket, listener.address));
      listener.handle.on('error', (error: Error) => this.#acceptFailed(listener.address, error));
    }
    this.#descriptors.start();
    const addresses = this.addresses;
    this.emit('listening', addresses);
    return addresses;
  }

  /**
   * Stops accepting, half-closes every session, waits for peers up to `timeout`, then destroys
   * what is left. Resolves when every socket is closed. Idempotent.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.#lifecycle.close(options);
  }

  /** Closes every listener and session at once. Idempotent; resolves when all are closed. */
  destroy(): Promise<void> {
    return this.#lifecycle.destroy();
  }

  /** The ledger: sockets open, accepted, closed, rejected, bytes in and out. */
  stats(): TcpServerStats {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const session of this.#sessions) {
      bytesIn += session.bytesRead;
      bytesOut += session.bytesWritten;
    }
    return {
      listeners: this.#listenersOpen,
      sessions: this.#sessions.size,
      accepted: this.#accepted,
      closed: this.#closedSockets,
      rejected: this.#rejected,
      bytesIn,
      bytesOut,
    };
  }

  /** The open sessions. */
  sessions(): IterableIterator<TcpSession> {
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

  /** Refuses new connections (with `busyMessage`, if set) while keeping every listener bound; open sessions carry on. */
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
   * `accept` handler, for connections arriving from now on.
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
    if (!this.#queue) throw new SwitchboardError(ErrorCode.INVALID_OPTION, 'iterating sessions needs a server created without a handler');
    return this.#queue[Symbol.asyncIterator]();
  }

  /** `await using server = await listen(…)` closes it gracefully. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #binder(): SocketBinder<Server> {
    const options = this.#options;
    return {
      transport: 'tcp',
      bind: (target, port) => bindListener(target, port, options),
      close: closeListener,
    };
  }

  #accept(socket: Socket, listening: BoundAddress): void {
    this.#accepted++;
    const info = readConnectionInfo(socket, listening);
    if (this.state !== 'listening') return this.#refuse(socket, info, RejectReason.CLOSING);
    const screened = this.#admission.screen(info);
    if (screened !== undefined) return this.#refuse(socket, info, screened);
    const accept = (this.#handler as EventHandler | undefined)?.accept;
    if (accept) void this.#askAcceptHook(accept, socket, info);
    else this.#admit(socket, info);
  }

  /** The limits are checked last, when the session would open, so the counts are exact. */
  #admit(socket: Socket, info: ConnectionInfo): void {
    const limit = this.#admission.admit(info, this.#sessions.size);
    if (limit !== undefined) return this.#refuse(socket, info, limit);
    this.#open(socket, info);
  }

  async #askAcceptHook(accept: NonNullable<EventHandler['accept']>, socket: Socket, info: ConnectionInfo): Promise<void> {
    socket.on('error', ignore); // a reset while the hook decides must not go unheard
    let verdict: boolean | void;
    try {
      verdict = await accept.call(this.#handler, info);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#report(new SwitchboardError(ErrorCode.HANDLER_FAILED, `accept handler failed for ${info.remoteAddress}:${info.remotePort}: ${message}`, { cause: error }));
      verdict = false;
    }
    socket.off('error', ignore);
    if (verdict === false || socket.destroyed) return this.#refuse(socket, info, RejectReason.ACCEPT_HOOK);
    if (this.state !== 'listening') return this.#refuse(socket, info, RejectReason.CLOSING);
    this.#admit(socket, info);
  }

  #open(socket: Socket, info: ConnectionInfo): void {
    const id = this.#nextSessionId++;
    const handler = this.#handler;
    const idleTimeout = this.#options.idleTimeout;
    const create = (handler as SessionSource | undefined)?.[kCreateSession];
    const session = create
      ? create(id, socket, info, this.#host, idleTimeout)
      : handler === undefined || typeof handler === 'function'
        ? new AsyncSession(id, socket, info, this.#host, idleTimeout)
        : new EventSession(id, socket, info, this.#host, idleTimeout, handler);
    this.#sessions.add(session);
    this.#deadlines.opened();
    this.emit('session', session);
    if (session instanceof EventSession) session.start();
    else if (typeof handler === 'function') (session as AsyncSession).run(handler as SessionFunction);
    else this.#queue!.push(session as AsyncSession);
  }

  #refuse(socket: Socket, info: ConnectionInfo, reason: RejectReason): void {
    this.#rejected++;
    socket.on('error', ignore);
    socket.once('close', () => this.#closedSockets++);
    const busy = this.#admission.busyMessageFor(reason);
    // The message fits the send buffer of a fresh socket, so 'finish' comes at once.
    if (busy) socket.end(busy, () => socket.destroy());
    else socket.destroy();
    this.emit('rejected', { info, reason });
  }

  #sessionClosed(session: TcpSession, _reason: CloseReason): void {
    this.#sessions.delete(session);
    this.#admission.released(session.remoteAddress);
    this.#closedSockets++;
    this.#closedBytesIn += session.bytesRead;
    this.#closedBytesOut += session.bytesWritten;
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
    this.emit('idle');
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

  #drained(): Promise<void> {
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

  async #stopListening(): Promise<void> {
    for (const unclaimed of this.#queue?.end() ?? []) unclaimed.unclaimed();
    this.#descriptors.stop();
    const listeners = this.#listeners;
    // net.Server#close closes the listening handle at once; its callback waits for the
    // connections it accepted, which the session teardown closes.
    const closing = listeners.map((listener) => closeListener(listener.handle));
    this.#listenersOpen = 0;
    await Promise.all(closing);
  }

  #finishClose(): void {
    this.emit('close');
  }

  #acceptFailed(address: BoundAddress, error: Error): void {
    if (isDescriptorExhaustion(error)) return this.#descriptors.failed(error);
    this.#report(opErrorFromSystem({ op: 'accept', transport: 'tcp', ...hostPort(address) }, error));
  }

  /** Out of descriptors: a `warning` (libuv resets the pending connections meanwhile), never an error. */
  #descriptorsExhausted(cause: NodeJS.ErrnoException): void {
    const first = this.#listeners[0]?.address;
    this.#warn(descriptorWarning({ op: 'accept', transport: 'tcp', ...(first ? hostPort(first) : {}) }, cause));
  }

  /** Warnings are `warning` events, or process warnings when nobody listens, so none is lost. */
  #warn(warning: SwitchboardError): void {
    if (this.listenerCount('warning') > 0) this.emit('warning', warning);
    else process.emitWarning(warning);
  }

  /** Runtime failures are events, never exceptions: `error` if anyone listens, else a process warning. */
  #report(error: SwitchboardError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error);
  }
}

/**
 * Creates a TCP server, binds every address, and resolves once it is listening.
 * @param handler event handlers, a session function, or nothing to iterate sessions with `for await`
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` synchronously for bad options
 * @throws {ListenError} (rejects) when any address fails to bind; nothing stays bound
 * @example
 * const server = await listen({ host: 'localhost', port: 7007 }, {
 *   data(session, chunk) { session.write(chunk); },
 * });
 * console.log(server.addresses); // 127.0.0.1:7007 and [::1]:7007
 */
export function listen(options?: TcpServerOptions, handler?: TcpHandler): Promise<TcpServer> {
  const server = new TcpServer(options, handler);
  return server.listen().then(() => server);
}

function bindListener(target: ListenTarget, port: number, options: NormalizedTcpServerOptions): Promise<{ handle: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer({
      allowHalfOpen: true,
      noDelay: options.noDelay,
      keepAlive: options.keepAlive,
      keepAliveInitialDelay: options.keepAliveInitialDelay,
      ...(options.limits.highWaterMark === undefined ? {} : { highWaterMark: options.limits.highWaterMark }),
    });
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      const address = server.address();
      resolve({ handle: server, port: typeof address === 'object' && address ? address.port : port });
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

function ignore(): void {}
