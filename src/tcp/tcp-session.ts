/**
 * The lifecycle every TCP session shares, whichever style serves it: exactly one close with
 * exactly one reason, shutdown before close, and the facts SocketTools reports per client.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { allowsHalfClose, describeTls, type TlsInfo } from '../tls/describe-tls.ts';
import type { ServerTls, StartTlsOptions } from '../tls/server-tls.ts';
import { invalidState } from '../tls/starttls.ts';
import { CloseCause, type CloseReason } from './close-reason.ts';
import type { ConnectionInfo } from './connection-info.ts';
import type { ProxyInfo } from '../proxy/proxy-info.ts';
import { ErrorCode, InvalidOptionError, OpError, SwitchboardError, opErrorFromSystem } from '../core/errors.ts';
import { durationOption } from '../core/options.ts';
import { handlerFailure } from '../server/handler-errors.ts';
import { takeUnread } from './unread-bytes.ts';
import { ownerOf, releaseSocket, takeSocket, type SocketOwner } from './socket-owner.ts';
import { isTlsSocket } from '../core/builtins.ts';

/** What a session needs from the server that owns it. */
export interface SessionHost {
  /** Called exactly once, after the socket has closed. */
  sessionClosed(session: TcpSession, reason: CloseReason): void;
  /** A handler of this session failed; report it (the session is being destroyed). */
  handlerFailed(session: TcpSession, error: SwitchboardError): void;
  /** Queues `data` on every open session but `except`; returns how many it reached (`server.broadcast`). */
  broadcast(data: string | Uint8Array | readonly Uint8Array[], except: TcpSession | null): number;
  /** A session set its own idle timeout: the server's sweep must check it often enough. */
  idleTimeoutSet(ms: number): void;
  /** Queued output above which a further write closes the session (0 = no cap). */
  readonly maxBufferedOutput: number;
  /** The server's TLS (its `tls` option), which `startTls()` upgrades with. */
  readonly tls?: ServerTls | undefined;
}

/** The states of a session: open, then ending (our FIN queued), then closed. */
export const SessionState = { OPEN: 'open', ENDING: 'ending', CLOSED: 'closed' } as const;
/** One of the {@link SessionState} values. */
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

// Bits of a session's #flags: one small integer instead of a field per boolean.
/** The server is closing gracefully: half-close as soon as the session waits on its peer. */
const CLOSE_REQUESTED = 1;
/** Our side is done and nobody reads: input is dropped until the peer's FIN. */
const DISCARDING = 2;
/** TLS: a `startTls()` handshake is running; an `end()` meanwhile waits for it. */
const UPGRADING = 4;
const END_AFTER_UPGRADE = 8;

/**
 * What few sessions use -- STARTTLS and TLS facts, `closed` waiters, `signal`, a close waiting
 * on handler promises -- kept apart and created on first use, so an idle plaintext session
 * carries one empty field for all of it.
 */
interface RareState {
  /** TLS (src/tls): what {@link TcpSession.tls} reports, read once the handshake completed. */
  tls: TlsInfo | null;
  /** TLS: plaintext bytes read and written before `startTls()`. */
  plainRead: number;
  plainWritten: number;
  closedWaiters: ((reason: CloseReason) => void)[] | undefined;
  onSettled: (() => void) | undefined;
  abort: AbortController | undefined;
}

function rareState(tls: TlsInfo | null): RareState {
  return { tls, plainRead: 0, plainWritten: 0, closedWaiters: undefined, onSettled: undefined, abort: undefined };
}

/** A close reason while it is being recorded (the first cause wins); the same object becomes the session's reason. */
interface RecordedReason {
  cause: CloseCause;
  error: SwitchboardError | undefined;
}

/** What {@link TcpSession.callHandler} returns when the handler threw (already reported). @internal */
export const HANDLER_THREW: unique symbol = Symbol('switchboard.handlerThrew');

/** The session that owns a socket (for listeners registered once per socket, without closures). */
export function sessionOf<S extends TcpSession>(socket: Socket): S {
  return ownerOf<S>(socket);
}

/**
 * One accepted TCP connection. Created by the server; users get an {@link EventSession} or an
 * {@link AsyncSession}, which add the style-specific read and write.
 */
export abstract class TcpSession implements SocketOwner {
  /** Monotonic per server, never reused. */
  readonly id: number;
  /** When the session opened, in ms since the epoch (for display: deadlines use a monotonic clock). */
  readonly openedAt: number;
  /** `performance.now()` when the session opened: what its deadlines count from. @internal */
  readonly openedTick: number;
  readonly #info: ConnectionInfo;
  readonly #host: SessionHost;
  /** The session's socket: a `TLSSocket` once TLS is up (implicit, or from `startTls()` on). */
  protected socket: Socket;
  protected sessionState: SessionState = SessionState.OPEN;
  protected lastActivity: number;
  #idleTimeout: number;
  /** The first cause recorded and its error; the session's close reason once it has closed. */
  #reason: RecordedReason | undefined;
  /** Why reading is held: each pending handler promise, the user's pause, a full read buffer. */
  #holds = 0;
  /** Handler promises pending (event handlers, the session function): `close()` waits for them. */
  #work = 0;
  /** CLOSE_REQUESTED, DISCARDING, UPGRADING, END_AFTER_UPGRADE. */
  #flags = 0;
  /** Created on first use (see {@link RareState}). */
  #rare: RareState | undefined;

  constructor(id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number) {
    this.id = id;
    this.openedAt = Date.now();
    this.openedTick = performance.now();
    this.lastActivity = this.openedTick;
    this.#idleTimeout = idleTimeout;
    this.#info = info;
    this.#host = host;
    this.socket = socket;
    if (isTlsSocket(socket)) this.#rare = rareState(describeTls(socket));
    // Socket listeners are shared module functions that hand the event to the socket's owner, so
    // a session costs no closure (idle memory stays near raw node:net); a socket the pending stage
    // owned keeps the ones it has.
    takeSocket(socket, this);
    // The idle timeout is checked by the server's deadline sweep (see checkIdle), not by
    // socket.setTimeout: a socket timer is re-armed on every read and write, which costs
    // measurable throughput on small messages.
  }

  get remoteAddress(): string { return this.#info.remoteAddress; }
  get remotePort(): number { return this.#info.remotePort; }
  get remoteFamily(): ConnectionInfo['remoteFamily'] { return this.#info.remoteFamily; }
  get localAddress(): string { return this.#info.localAddress; }
  get localPort(): number { return this.#info.localPort; }
  get localFamily(): ConnectionInfo['localFamily'] { return this.#info.localFamily; }
  /**
   * Behind a trusted balancer (the `proxyProtocol` option): the PROXY header -- version, command,
   * transport, source, destination, TLVs -- and `peer`, the balancer's own address; `null` on a
   * direct connection. The remote and local ends above are then the header's (docs/proxy-protocol.md).
   */
  get proxy(): ProxyInfo | null { return this.#info.proxy ?? null; }
  /** Bytes received from the peer so far (over TLS: the decrypted bytes). */
  get bytesRead(): number { return (this.#rare?.plainRead ?? 0) + this.socket.bytesRead; }
  /** Bytes written to the session so far, including any still queued in the process (over TLS: before encryption). */
  get bytesWritten(): number { return (this.#rare?.plainWritten ?? 0) + this.socket.bytesWritten; }
  /** Milliseconds since the last byte read or written. */
  get idleTime(): number { return performance.now() - this.lastActivity; }
  /** `open`, `ending` (our side half-closed) or `closed`. */
  get state(): SessionState { return this.sessionState; }
  /** The reason the session closed, once it has. */
  get closeReason(): CloseReason | undefined { return this.sessionState === SessionState.CLOSED ? this.#reason : undefined; }

  #rareState(): RareState {
    return (this.#rare ??= rareState(null));
  }

  /**
   * The TLS parameters -- protocol, cipher, ALPN, server name, client certificate -- or `null`
   * on a plaintext session (and while `startTls()` runs). See docs/tls.md.
   */
  get tls(): TlsInfo | null {
    return this.#rare?.tls ?? null;
  }

  /**
   * STARTTLS: upgrades this plaintext session to TLS with the server's `tls` option (`mode:
   * 'starttls'`) and resolves with {@link tls} once the handshake completed. Call it as you parse
   * the command, and let it write the go-ahead (`goAhead`): it stops reading plaintext first, and
   * if any byte followed the command -- in your parser (`buffered`) or unread in the session -- it
   * closes the session instead (`SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS`; the CVE-2011-0411 class).
   * Reads, writes and the idle timeout carry on over TLS; writes made meanwhile are sent encrypted.
   *
   * Errors (rejects): `SWB_ERR_TLS_INVALID_STATE` when the session is already TLS (or upgrading),
   * not open, or the server has no `tls` option -- nothing is closed; a `TlsHandshakeError` when
   * the upgrade failed -- the session is closed (cause `tls-handshake`, that error as its error).
   * @throws {InvalidOptionError} synchronously for a malformed option
   * @example
   * if (line === 'STARTTLS') await session.startTls({ goAhead: '220 2.0.0 Ready to start TLS\r\n' });
   */
  startTls(options: StartTlsOptions = {}): Promise<TlsInfo> {
    const tls = this.#host.tls;
    const open = this.sessionState === SessionState.OPEN && !this.socket.destroyed;
    const refusal = tls === undefined ? 'the server has no `tls` option (give it one with `mode: "starttls"`)'
      : (this.#flags & UPGRADING) !== 0 ? 'a STARTTLS upgrade is already running'
      : isTlsSocket(this.socket) ? 'the connection is already TLS'
      : !open ? `the session is ${this.sessionState === SessionState.OPEN ? 'closed' : this.sessionState}` : undefined;
    if (refusal !== undefined) return Promise.reject(invalidState(refusal));
    const plain = this.socket;
    // Bytes that followed a PROXY header, not yet delivered (a `startTls()` inside `open`): pending plaintext too.
    const held = this.detachReader() + (takeUnread(plain)?.length ?? 0);
    let upgrade: Promise<TLSSocket>;
    this.#flags |= UPGRADING;
    try {
      upgrade = tls!.upgrade(plain, options, held, {
        wrapped: (secure) => this.#adopt(plain, secure),
        failed: (error) => {
          // A cause already recorded means we closed it (destroy, the server closing): not the peer's failure.
          if (this.#reason !== undefined) return true;
          this.recordCause(CloseCause.TLS_HANDSHAKE, error);
          return false;
        },
      });
    } catch (error) {
      this.#upgraded();
      throw error;
    }
    return upgrade.then(
      () => {
        this.#upgraded();
        const info = this.tls;
        if (info === null) throw this.closeReason?.error ?? new SwitchboardError(ErrorCode.SESSION_CLOSED, `session ${this.id} closed as its TLS handshake completed`);
        return info;
      },
      (error: unknown) => {
        this.#upgraded();
        throw error;
      },
    );
  }

  /** STARTTLS: the style's reader leaves the socket; returns what the session holds unread (bytes, frames). */
  protected detachReader(): number {
    return 0;
  }

  /** STARTTLS: the style's reader joins the (new) socket. */
  protected attachReader(): void {}

  /** STARTTLS: the session's listeners move to the `TLSSocket`, which every later write and destroy goes through. */
  #adopt(plain: Socket, secure: TLSSocket): void {
    releaseSocket(plain);
    const rare = this.#rareState();
    rare.plainRead = plain.bytesRead;
    rare.plainWritten = plain.bytesWritten;
    this.socket = secure;
    takeSocket(secure, this);
  }

  /** STARTTLS settled: reading resumes on whichever socket the session now has, unless it closed. */
  #upgraded(): void {
    this.#flags &= ~UPGRADING;
    if (this.socket.destroyed) return;
    this.#rareState().tls = describeTls(this.socket);
    this.attachReader();
    this.#flow();
    if ((this.#flags & END_AFTER_UPGRADE) !== 0) this.socket.end();
  }

  /** Our FIN (over TLS, close_notify first) -- after the handshake when `startTls()` is running. */
  #endSocket(): void {
    if ((this.#flags & UPGRADING) !== 0) this.#flags |= END_AFTER_UPGRADE;
    else this.socket.end();
  }

  /** Resolves (never rejects) with the close reason once the socket has closed. */
  get closed(): Promise<CloseReason> {
    const reason = this.closeReason;
    if (reason !== undefined) return Promise.resolve(reason);
    const rare = this.#rareState();
    return new Promise((resolve) => (rare.closedWaiters ??= []).push(resolve));
  }

  /**
   * Aborted when the session should wrap up: the server began a graceful close (reason
   * `SWB_ERR_SERVER_CLOSED`; finish the work in hand, start no more: the session is half-closed
   * once it waits on its peer), or the session closed (reason: its close error, else
   * `SWB_ERR_SESSION_CLOSED`).
   * @example
   * while (!session.signal.aborted) await session.write(nextTick());
   */
  get signal(): AbortSignal {
    const rare = this.#rareState();
    if (rare.abort === undefined) {
      rare.abort = new AbortController();
      const reason = this.#abortReason();
      if (reason !== undefined) rare.abort.abort(reason);
    }
    return rare.abort.signal;
  }

  /**
   * Queues `data` on every other open session of the server and returns how many it reached
   * (those open and under their output cap). This session is always skipped; to reach every
   * session, call `server.broadcast`.
   * @example
   * data(session, chunk) { session.broadcast(chunk); } // to everyone but the sender
   */
  broadcast(data: string | Uint8Array | readonly Uint8Array[]): number {
    return this.#host.broadcast(data, this);
  }

  /** This session's idle timeout in ms (0: none): the server's `idleTimeout` unless {@link setIdleTimeout} changed it. */
  get idleTimeout(): number {
    return this.#idleTimeout;
  }

  /**
   * Changes this session's idle timeout (0 disables it); other sessions keep the server's
   * `idleTimeout`. Idle time still counts from the last byte read or written, so a session
   * already idle for longer than `ms` times out at the next check. Returns the session.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` unless `ms` is a non-negative number of milliseconds
   * @example
   * open(session) { if (session.remoteAddress === '127.0.0.1') session.setIdleTimeout(0); }
   */
  setIdleTimeout(ms: number): this {
    if (ms === undefined) throw new InvalidOptionError('idleTimeout', 'must be a non-negative number of milliseconds', ms);
    const timeout = durationOption('idleTimeout', ms, 0);
    this.#idleTimeout = timeout;
    this.#host.idleTimeoutSet(timeout);
    return this;
  }

  /**
   * TCP_NODELAY for this session: `true` sends small writes at once instead of coalescing them
   * (Nagle's algorithm); the server's `noDelay` option sets it for every session. Returns the session.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a value that is not a boolean
   */
  setNoDelay(noDelay = true): this {
    if (typeof noDelay !== 'boolean') throw new InvalidOptionError('noDelay', 'must be a boolean', noDelay);
    if (!this.socket.destroyed) this.socket.setNoDelay(noDelay);
    return this;
  }

  /**
   * SO_KEEPALIVE for this session, with the idle time before the first probe in ms (0: the
   * system's); the server's `keepAlive` and `keepAliveInitialDelay` options set it for every
   * session. Returns the session.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a value that is not a boolean, or a delay that is not a non-negative number of milliseconds
   */
  setKeepAlive(enable = false, initialDelay = 0): this {
    if (typeof enable !== 'boolean') throw new InvalidOptionError('keepAlive', 'must be a boolean', enable);
    const delay = durationOption('keepAliveInitialDelay', initialDelay, 0);
    if (!this.socket.destroyed) this.socket.setKeepAlive(enable, delay);
    return this;
  }

  /**
   * Half-closes: queued writes are flushed, then FIN is sent (shutdown before close). The
   * session closes once the peer has closed its side too. Idempotent.
   */
  end(): void {
    if (this.sessionState !== SessionState.OPEN) return;
    // Once the server is closing, a session that ends gracefully ends because of it.
    this.recordCause((this.#flags & CLOSE_REQUESTED) !== 0 ? CloseCause.SERVER_CLOSE : CloseCause.LOCAL_END);
    this.sessionState = SessionState.ENDING;
    this.#endSocket();
  }

  /** Closes at once, discarding queued writes. With an error, it becomes the close reason's error. */
  destroy(error?: Error): void {
    if (this.sessionState === SessionState.CLOSED) return;
    this.recordCause(CloseCause.LOCAL_DESTROY, error === undefined ? undefined : asSwitchboardError(error));
    this.socket.destroy();
  }

  /**
   * Queues bytes without waiting (for `broadcast`): false when the session is not open or its
   * output is over the cap (which closes it). @internal
   */
  enqueue(data: string | Uint8Array): boolean {
    if (this.sessionState !== SessionState.OPEN || this.outputOverflow() !== undefined) return false;
    this.lastActivity = performance.now();
    this.socket.write(data);
    return true;
  }

  /** The server's `maxBufferedOutput` (0 = no cap), for the write paths that coalesce. */
  protected get outputCap(): number {
    return this.#host.maxBufferedOutput;
  }

  /**
   * Checked before each write: when the output already queued is above `maxBufferedOutput`, the
   * peer is not reading; the session is reset with `SWB_ERR_OUTPUT_OVERFLOW` and the error is returned.
   */
  protected outputOverflow(): SwitchboardError | undefined {
    const cap = this.#host.maxBufferedOutput;
    const queued = this.socket.writableLength;
    if (cap === 0 || queued <= cap) return undefined;
    const error = new SwitchboardError(
      ErrorCode.OUTPUT_OVERFLOW,
      `session ${this.id}: ${queued} bytes of output queued, over maxBufferedOutput (${cap}); the peer is not reading`,
    );
    this.reset(CloseCause.LIMIT, error);
    return this.#reason?.error;
  }

  /** Ends the session with a given cause: gracefully (`end`) or at once. @internal */
  terminate(cause: CloseCause, error: SwitchboardError | undefined, graceful: boolean): void {
    if (this.sessionState === SessionState.CLOSED) return;
    this.recordCause(cause, error);
    if (graceful) {
      if (this.sessionState === SessionState.OPEN) {
        this.sessionState = SessionState.ENDING;
        this.#endSocket();
      }
    } else {
      this.socket.destroy();
    }
  }

  /**
   * Closes at once with a reset (RST) instead of a FIN: for a peer that does not read, whose
   * unsent output would otherwise keep the kernel holding the connection (FIN-WAIT-1) for
   * minutes. The peer sees ECONNRESET. @internal
   */
  reset(cause: CloseCause, error?: SwitchboardError): void {
    if (this.sessionState === SessionState.CLOSED) return;
    this.recordCause(cause, error);
    resetSocket(this.socket);
  }

  /**
   * The server is closing gracefully: aborts {@link signal}, calls the style's `closing`
   * behaviour, and half-closes the session as soon as it waits on its peer (at once if it does
   * now); a session already ending is left to finish. @internal
   */
  closeWhenIdle(): void {
    if ((this.#flags & CLOSE_REQUESTED) !== 0 || this.sessionState === SessionState.CLOSED) return;
    this.#flags |= CLOSE_REQUESTED;
    this.#signalAbort();
    if (this.sessionState !== SessionState.OPEN) return;
    this.closing();
    if (this.sessionState === SessionState.OPEN && this.awaitingPeer) this.#endForServer();
  }

  /** Whether a handler promise of this session is still pending. @internal */
  get busy(): boolean {
    return this.#work > 0;
  }

  /** Calls `callback` once no handler promise of this session is pending (see {@link busy}). @internal */
  whenSettled(callback: () => void): void {
    if (this.#work === 0) return callback();
    this.#rareState().onSettled = callback;
  }

  /** Records the first cause only, with its own error: a later cause's error never joins it. */
  protected recordCause(cause: CloseCause, error?: SwitchboardError): void {
    const reason = this.#reason;
    if (reason === undefined) this.#reason = { cause, error };
    else if (reason.cause === cause && this.sessionState !== SessionState.CLOSED) reason.error ??= error;
  }

  /** Holds reading (TCP flow control pushes back on the peer) until a matching {@link release}. */
  protected hold(): void {
    if (this.#holds++ === 0) this.#flow();
  }

  /** Drops one hold; reading resumes once none is left. */
  protected release(): void {
    if (--this.#holds === 0) this.#flow();
  }

  /** A handler promise started: `close()` waits for it, and the session is not idle meanwhile. */
  protected workStarted(): void {
    this.#work++;
  }

  /** A handler promise settled. */
  protected workDone(): void {
    if (--this.#work > 0) return;
    const rare = this.#rare;
    if (rare !== undefined && rare.onSettled !== undefined) {
      const settled = rare.onSettled;
      rare.onSettled = undefined;
      settled();
    }
    this.becameIdle();
  }

  /** Whether the session now waits on its peer, with no work of its own in progress. */
  protected abstract get awaitingPeer(): boolean;

  /** The session started waiting on its peer: a graceful server close half-closes it now. */
  protected becameIdle(): void {
    if ((this.#flags & CLOSE_REQUESTED) !== 0 && this.sessionState === SessionState.OPEN && this.awaitingPeer) this.#endForServer();
  }

  /** The style's response to a graceful server close, before the half-close (event style: the `closing` handler). */
  protected closing(): void {}

  /**
   * Our side is done and nobody will read again: keep reading and drop what arrives until the
   * peer's FIN, so the close completes instead of waiting on a peer blocked behind unread input.
   */
  protected finishReading(): void {
    if ((this.#flags & DISCARDING) !== 0) return;
    this.#flags |= DISCARDING;
    this.inputDiscarded();
    this.#flow();
  }

  /** Whether input is being dropped (see {@link finishReading}). */
  protected get discarding(): boolean {
    return (this.#flags & DISCARDING) !== 0;
  }

  /** Drop any input buffered for a reader: nobody will read it. */
  protected inputDiscarded(): void {}

  /**
   * Calls a user handler as this session's own: a throw ends only this session. Returns what the
   * handler returned, or {@link HANDLER_THREW}.
   */
  protected callHandler(callback: string, handler: (session: never, arg: never) => unknown, receiver: unknown, arg?: unknown): unknown {
    try {
      return (handler as (this: unknown, session: TcpSession, arg: unknown) => unknown).call(receiver, this, arg);
    } catch (error) {
      this.handlerFailed(error, callback);
      return HANDLER_THREW;
    }
  }

  /** A user callback failed: report it, and end only this session. */
  protected handlerFailed(error: unknown, callback: string): void {
    if ((this.sessionState === SessionState.CLOSED || this.socket.destroyed) && (error === this.#reason?.error || isOwnCloseError(this, error))) return;
    const wrapped = handlerFailure(`${callback} handler of session ${this.id} failed`, error);
    this.#host.handlerFailed(this, wrapped);
    if (this.sessionState === SessionState.CLOSED || this.socket.destroyed) return;
    this.recordCause(CloseCause.HANDLER_ERROR, wrapped);
    this.socket.destroy();
  }

  /** The peer sent FIN. */
  protected abstract peerEnded(): void;
  /** The idle timeout elapsed. */
  protected abstract idled(): void;
  /** The socket closed; `reason` is final. Subclasses settle readers and call user handlers. */
  protected abstract closedWith(reason: CloseReason): void;

  /**
   * Called by the server's sweep: when no byte was read or written for the idle timeout, runs
   * the `timeout` behaviour; the next one comes after another full idle period. @internal
   */
  checkIdle(now: number): void {
    const limit = this.#idleTimeout;
    if (limit <= 0 || now - this.lastActivity < limit || this.sessionState === SessionState.CLOSED) return;
    this.idled(); // sees the real idleTime
    if (this.lastActivity < now) this.lastActivity = now;
  }

  /**
   * The default idle-timeout behaviour: close. A session with output still queued, or whose FIN
   * is already queued, is waiting on a peer that does not read: it is reset, not left to the kernel.
   */
  protected idleExpired(): void {
    const error = new SwitchboardError(ErrorCode.IDLE_TIMEOUT, `session ${this.id} idle for ${this.#idleTimeout} ms`);
    if (this.socket.writableLength > 0 || this.sessionState === SessionState.ENDING) this.reset(CloseCause.IDLE_TIMEOUT, error);
    else this.terminate(CloseCause.IDLE_TIMEOUT, error, false);
  }

  #endForServer(): void {
    if (this.socket.destroyed) return; // a handler failure is closing it already
    this.end();
    this.finishReading();
  }

  #flow(): void {
    const socket = this.socket;
    // While `startTls()` runs the handshake reads on its own: pausing would stall it.
    const flags = this.#flags;
    if (socket.destroyed || (flags & UPGRADING) !== 0) return;
    if (this.#holds > 0 && (flags & DISCARDING) === 0) socket.pause();
    else socket.resume();
  }

  /** Why {@link signal} is aborted, once it is: the server's close request, else the session's close. */
  #abortReason(): SwitchboardError | undefined {
    if ((this.#flags & CLOSE_REQUESTED) !== 0) return new SwitchboardError(ErrorCode.SERVER_CLOSED, `session ${this.id}: the server is closing`);
    const reason = this.closeReason;
    if (reason === undefined) return undefined;
    return reason.error ?? new SwitchboardError(ErrorCode.SESSION_CLOSED, `session ${this.id} closed (${reason.cause})`);
  }

  #signalAbort(): void {
    const controller = this.#rare?.abort;
    if (controller !== undefined && !controller.signal.aborted) controller.abort(this.#abortReason());
  }

  /** The socket reported an error; its close follows. @internal */
  socketError(error: Error): void {
    const code = (error as NodeJS.ErrnoException).code;
    const reset = code === 'ECONNRESET' || code === 'EPIPE';
    const wrapped = opErrorFromSystem({ op: 'read', transport: 'tcp', address: this.remoteAddress, port: this.remotePort }, error);
    this.recordCause(reset ? CloseCause.PEER_RESET : CloseCause.SOCKET_ERROR, wrapped);
  }

  /** The peer sent FIN. @internal */
  socketEnded(): void {
    this.recordCause(CloseCause.PEER_END);
    this.peerEnded();
    // TLS 1.2 has no half-close: the peer's close_notify ends the connection both ways (docs/tls.md).
    if (!allowsHalfClose(this.socket)) this.end();
  }

  /** The socket closed: the session closes, exactly once, with its final reason. @internal */
  socketClosed(): void {
    this.sessionState = SessionState.CLOSED;
    const reason: CloseReason = (this.#reason ??= { cause: CloseCause.SOCKET_ERROR, error: undefined });
    this.#signalAbort();
    this.closedWith(reason);
    this.#host.sessionClosed(this, reason);
    const rare = this.#rare;
    const waiters = rare?.closedWaiters;
    if (waiters === undefined) return;
    rare!.closedWaiters = undefined;
    for (const resolve of waiters) resolve(reason);
  }
}


/** Closes a socket with a reset (SO_LINGER 0, then close), so the kernel drops its unsent output at once. */
function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  // libuv refuses a reset while our FIN (a shutdown) is in flight, and Node would then lose the
  // handle without closing it: wait the loop turn the shutdown takes.
  if (socket.writableEnded && !socket.writableFinished && socket.writableLength === 0) {
    socket.once('finish', () => resetSocket(socket));
    return;
  }
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy(); // not a plain TCP handle: close it the ordinary way
  }
}

function asSwitchboardError(error: Error): SwitchboardError {
  return error instanceof SwitchboardError ? error : new SwitchboardError(ErrorCode.SOCKET, error.message, { cause: error });
}

/**
 * A rejection that only repeats why the session closed -- its close error, or a read or write
 * cut short by the close -- is no handler bug.
 */
function isOwnCloseError(session: TcpSession, error: unknown): boolean {
  if (error === session.closeReason?.error) return true;
  if (!(error instanceof SwitchboardError)) return false;
  return error.code === ErrorCode.SESSION_CLOSED || (error instanceof OpError && (error.op === 'read' || error.op === 'write'));
}
