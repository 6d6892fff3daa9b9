/**
 * The lifecycle every TCP session shares, whichever style serves it: exactly one close with
 * exactly one reason, shutdown before close, and the facts SocketTools reports per client.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CloseCause, type CloseReason } from './close-reason.ts';
import type { ConnectionInfo } from './connection-info.ts';
import { ErrorCode, OpError, SwitchboardError, opErrorFromSystem } from '../core/errors.ts';

/** What a session needs from the server that owns it. */
export interface SessionHost {
  /** Called exactly once, after the socket has closed. */
  sessionClosed(session: TcpSession, reason: CloseReason): void;
  /** A handler of this session failed; report it (the session is being destroyed). */
  handlerFailed(session: TcpSession, error: SwitchboardError): void;
  /** Queued output above which a further write closes the session (0 = no cap). */
  readonly maxBufferedOutput: number;
}

/** The states of a session: open, then ending (our FIN queued), then closed. */
export const SessionState = { OPEN: 'open', ENDING: 'ending', CLOSED: 'closed' } as const;
/** One of the {@link SessionState} values. */
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

const kSession = Symbol('switchboard.session');
// Socket listeners are shared functions (assigned in the class's static block, where they may
// touch private state) so a session costs no closures: idle memory stays near raw node:net.
let onSocketError: (this: Socket, error: Error) => void;
let onSocketEnd: (this: Socket) => void;
let onSocketClose: (this: Socket) => void;
type OwnedSocket = Socket & { [kSession]: TcpSession };

/**
 * The session whose handler is running, so `broadcast` can skip it: `session` is set around
 * synchronous handler calls (no allocation per chunk), `async` covers a whole session function.
 * @internal
 */
export const handlerScope: { session: TcpSession | undefined; readonly async: AsyncLocalStorage<TcpSession> } = {
  session: undefined,
  async: new AsyncLocalStorage<TcpSession>(),
};

/** The session whose handler is running now, if any. @internal */
export function currentSession(): TcpSession | undefined {
  return handlerScope.session ?? handlerScope.async.getStore();
}

/** What {@link TcpSession.callHandler} returns when the handler threw (already reported). @internal */
export const HANDLER_THREW: unique symbol = Symbol('switchboard.handlerThrew');

/** The session that owns a socket (for listeners registered once per socket, without closures). */
export function sessionOf<S extends TcpSession>(socket: Socket): S {
  return (socket as OwnedSocket)[kSession] as S;
}

/**
 * One accepted TCP connection. Created by the server; users get an {@link EventSession} or an
 * {@link AsyncSession}, which add the style-specific read and write.
 */
export abstract class TcpSession {
  /** Monotonic per server, never reused. */
  readonly id: number;
  /** When the session opened (ms since the epoch). */
  readonly openedAt: number;
  readonly #info: ConnectionInfo;
  readonly #host: SessionHost;
  protected readonly socket: Socket;
  protected sessionState: SessionState = SessionState.OPEN;
  protected lastActivity: number;
  readonly #idleTimeout: number;
  #cause: CloseCause | undefined;
  #error: SwitchboardError | undefined;
  #reason: CloseReason | undefined;
  #closedWaiters: ((reason: CloseReason) => void)[] | undefined;

  constructor(id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number) {
    this.id = id;
    this.openedAt = Date.now();
    this.lastActivity = performance.now();
    this.#idleTimeout = idleTimeout;
    this.#info = info;
    this.#host = host;
    this.socket = socket;
    (socket as OwnedSocket)[kSession] = this;
    socket.on('error', onSocketError);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
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
  /** Bytes received from the peer so far. */
  get bytesRead(): number { return this.socket.bytesRead; }
  /** Bytes written to the session so far, including any still queued in the process. */
  get bytesWritten(): number { return this.socket.bytesWritten; }
  /** Milliseconds since the last byte read or written. */
  get idleTime(): number { return performance.now() - this.lastActivity; }
  /** `open`, `ending` (our side half-closed) or `closed`. */
  get state(): SessionState { return this.sessionState; }
  /** The reason the session closed, once it has. */
  get closeReason(): CloseReason | undefined { return this.#reason; }

  /** Resolves (never rejects) with the close reason once the socket has closed. */
  get closed(): Promise<CloseReason> {
    if (this.#reason) return Promise.resolve(this.#reason);
    return new Promise((resolve) => (this.#closedWaiters ??= []).push(resolve));
  }

  /**
   * Half-closes: queued writes are flushed, then FIN is sent (shutdown before close). The
   * session closes once the peer has closed its side too. Idempotent.
   */
  end(): void {
    if (this.sessionState !== SessionState.OPEN) return;
    this.recordCause(CloseCause.LOCAL_END);
    this.sessionState = SessionState.ENDING;
    this.socket.end();
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

  /**
   * Checked before each write: when the output already queued is above `maxBufferedOutput`, the
   * peer is not reading; the session closes with `SWB_ERR_OUTPUT_OVERFLOW` and the error is returned.
   */
  protected outputOverflow(): SwitchboardError | undefined {
    const cap = this.#host.maxBufferedOutput;
    const queued = this.socket.writableLength;
    if (cap === 0 || queued <= cap) return undefined;
    const error = new SwitchboardError(
      ErrorCode.OUTPUT_OVERFLOW,
      `session ${this.id}: ${queued} bytes of output queued, over maxBufferedOutput (${cap}); the peer is not reading`,
    );
    this.terminate(CloseCause.LIMIT, error, false);
    return this.#error;
  }

  /** Ends the session with a given cause: gracefully (`end`) or at once. @internal */
  terminate(cause: CloseCause, error: SwitchboardError | undefined, graceful: boolean): void {
    if (this.sessionState === SessionState.CLOSED) return;
    this.recordCause(cause, error);
    if (graceful) {
      if (this.sessionState === SessionState.OPEN) {
        this.sessionState = SessionState.ENDING;
        this.socket.end();
      }
    } else {
      this.socket.destroy();
    }
  }

  /** Records the first cause (and the first error) only. */
  protected recordCause(cause: CloseCause, error?: SwitchboardError): void {
    this.#cause ??= cause;
    this.#error ??= error;
  }

  /**
   * Calls a user handler as this session's own: `broadcast` skips the session while it runs, and a
   * throw ends only this session. Returns what the handler returned, or {@link HANDLER_THREW}.
   */
  protected callHandler(callback: string, handler: (session: never, arg: never) => unknown, receiver: unknown, arg?: unknown): unknown {
    const outer = handlerScope.session;
    handlerScope.session = this;
    try {
      return (handler as (this: unknown, session: TcpSession, arg: unknown) => unknown).call(receiver, this, arg);
    } catch (error) {
      this.handlerFailed(error, callback);
      return HANDLER_THREW;
    } finally {
      handlerScope.session = outer;
    }
  }

  /** A user callback failed: report it, and end only this session. */
  protected handlerFailed(error: unknown, callback: string): void {
    if ((this.sessionState === SessionState.CLOSED || this.socket.destroyed) && (error === this.#error || isOwnCloseError(this, error))) return;
    const wrapped = new SwitchboardError(
      ErrorCode.HANDLER_FAILED,
      `${callback} handler of session ${this.id} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
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

  protected idleError(): SwitchboardError {
    return new SwitchboardError(ErrorCode.IDLE_TIMEOUT, `session ${this.id} idle for ${this.#idleTimeout} ms`);
  }

  static {
    onSocketError = function (this: Socket, error: Error) {
      const session = sessionOf(this);
      const reset = (error as NodeJS.ErrnoException).code === 'ECONNRESET' || (error as NodeJS.ErrnoException).code === 'EPIPE';
      const wrapped = opErrorFromSystem({ op: 'read', transport: 'tcp', address: session.remoteAddress, port: session.remotePort }, error);
      session.recordCause(reset ? CloseCause.PEER_RESET : CloseCause.SOCKET_ERROR, wrapped);
    };
    onSocketEnd = function (this: Socket) {
      const session = sessionOf(this);
      session.recordCause(CloseCause.PEER_END);
      session.peerEnded();
    };
    onSocketClose = function (this: Socket) {
      const session = sessionOf(this);
      session.sessionState = SessionState.CLOSED;
      const reason: CloseReason = { cause: session.#cause ?? CloseCause.SOCKET_ERROR, error: session.#error };
      session.#reason = reason;
      session.closedWith(reason);
      session.#host.sessionClosed(session, reason);
      const waiters = session.#closedWaiters;
      session.#closedWaiters = undefined;
      if (waiters) for (const resolve of waiters) resolve(reason);
    };
  }
}


function asSwitchboardError(error: Error): SwitchboardError {
  return error instanceof SwitchboardError ? error : new SwitchboardError(ErrorCode.SOCKET, error.message, { cause: error });
}

/**
 * A rejection that only repeats why the session closed — its close error, or a read or write
 * cut short by the close — is no handler bug.
 */
function isOwnCloseError(session: TcpSession, error: unknown): boolean {
  if (error === session.closeReason?.error) return true;
  if (!(error instanceof SwitchboardError)) return false;
  return error.code === ErrorCode.SESSION_CLOSED || (error instanceof OpError && (error.op === 'read' || error.op === 'write'));
}
