/**
 * The two ways to serve sessions: an event handler object (SocketTools' OnAccept / OnRead /
 * OnWrite / OnTimeout / OnDisconnect) or an async function per session.
 */
import type { Socket } from 'node:net';
import type { AsyncSession } from './async-session.ts';
import type { CloseReason } from './close-reason.ts';
import type { ConnectionInfo } from './connection-info.ts';
import type { SwitchboardError } from '../core/errors.ts';
import type { EventSession } from './event-session.ts';
import type { SessionHost, TcpSession } from './tcp-session.ts';

/** A value or a promise of it: handlers may be synchronous or async. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Event-style handlers. Every callback is optional; callbacks may return a promise, and while
 * `open` or `data` has a promise pending the session stops reading (so input never queues
 * without bound). A callback that throws or rejects ends only its own session. A key that is no
 * callback name but holds a function (a misspelt `dta`) is refused when the server is built.
 * @typeParam S - the session the callbacks get (framing's handlers get a framed session).
 * @example
 * await listenTcp({ host: 'localhost', port: 7007 }, {
 *   data(session, chunk) { session.write(chunk); },
 * });
 */
export interface TcpEventHandler<S extends EventSession = EventSession> {
  /**
   * Before a session opens: return `false` to refuse the connection (it is closed at once). It may
   * be async; `signal` aborts when the connection stops waiting for the answer (`acceptTimeout`,
   * a reset, the server closing), and a later answer is ignored.
   */
  accept?(info: ConnectionInfo, signal: AbortSignal): MaybePromise<boolean | void>;
  /** The session is open. */
  open?(session: S): MaybePromise<void>;
  /** Bytes arrived (>= 1). Without a `data` handler incoming bytes are read and discarded. */
  data?(session: S, chunk: Buffer): MaybePromise<void>;
  /** The session's output fell below its high watermark after `write()` returned false. */
  drain?(session: S): void;
  /**
   * The server began a graceful close (`session.signal` is aborted too): the session may still
   * write -- a goodbye -- before it is half-closed, which happens once no `open` or `data` promise
   * is pending.
   */
  closing?(session: S): void;
  /** The peer half-closed. @default finish queued writes, then close (`session.end()`) */
  end?(session: S): void;
  /** No traffic for `idleTimeout` ms. @default close the session (`idle-timeout`) */
  timeout?(session: S): void;
  /** The session ended with an error (handler failure, reset, limit), just before `close`. */
  error?(session: S, error: SwitchboardError): void;
  /** Exactly once per opened session, whatever ended it. */
  close?(session: S, reason: CloseReason): void;
}

/**
 * Async style: one call per session. When the promise resolves the session is ended gracefully;
 * when it rejects the session is destroyed with the error as its close reason. A graceful server
 * close half-closes the session while the function waits in `read()` (or the iterator) and waits
 * for the promise; `session.signal` tells a function that never waits on its peer to stop.
 * @typeParam S - the session it gets (framing's session functions get a framed session).
 * @example
 * await listenTcp({ port: 7007 }, async (session) => {
 *   for await (const chunk of session) await session.write(chunk);
 * });
 */
// Written as a method's type so that, like the event handler's callbacks, a function of a
// narrower session (framing's) is still a `TcpHandler`.
export type TcpSessionFunction<S extends AsyncSession = AsyncSession> = { serve(session: S): Promise<void> | void }['serve'];

/**
 * What `listenTcp` serves sessions with: event handlers, a session function, or a handler that
 * brings its own sessions (what `framed()` returns); none means `for await (const session of server)`.
 */
export type TcpHandler = TcpEventHandler | TcpSessionFunction | SessionProvider;

// Every callback of TcpEventHandler, no more and no fewer: the compiler checks the list.
const eventCallbacks: { readonly [K in keyof TcpEventHandler]-?: true } = {
  accept: true, open: true, data: true, drain: true, closing: true, end: true, timeout: true, error: true, close: true,
};
/** The callback names of {@link TcpEventHandler}; any other function-valued key is refused. @internal */
export const TCP_EVENT_CALLBACKS: readonly string[] = Object.keys(eventCallbacks);

/**
 * A handler that brings its own session class -- `framed()` returns one. The server recognises
 * it with `instanceof` and, for each connection it admits, calls {@link createSession} instead of
 * constructing an `EventSession` or `AsyncSession`, emits `session`, then calls
 * {@link startSession}. This is the one way a handler changes the session class. An `accept`
 * member, when present, is called before a session exists, as `TcpEventHandler.accept` is.
 * @typeParam S - the sessions it makes, so a server can be typed by its handler.
 * @internal Extended inside the library only; users pass what `framed()` returns.
 */
export abstract class SessionProvider<S extends TcpSession = TcpSession> {
  declare accept?: TcpEventHandler['accept'];

  /** Builds the session for an accepted socket (it registers its own socket listeners). */
  abstract createSession(id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number): S;

  /** Starts serving a session it made, once the server has announced it: the `open` handler, or the session function. */
  abstract startSession(session: S): void;
}

/** Whether a handler returned a promise (or any thenable) that reading must wait for. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}
