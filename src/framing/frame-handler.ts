/**
 * The two ways to serve framed sessions, mirroring the unframed ones: event handlers with a
 * `frame` callback, or an async function that iterates `session.frames()`.
 */
import type { CloseReason } from '../tcp/close-reason.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import type { SwitchboardError } from '../core/errors.ts';
import type { MaybePromise } from '../tcp/tcp-handlers.ts';
import type { FramedAsyncSession } from './framed-async-session.ts';
import type { FramedEventSession } from './framed-event-session.ts';

/**
 * Event-style handlers for framed sessions: {@link TcpEventHandler} with `frame` in place of `data`.
 * When `frame` (or `open`) returns a promise, reading stops and later frames wait until it
 * settles, so frames are handled one at a time, in order. A callback that throws or rejects
 * ends only its own session.
 * @example
 * await listenTcp({ port: 7007 }, framed(() => createLineCodec(), {
 *   frame(session, line) { session.send(`you said: ${line}`); },
 * }));
 */
export interface FrameHandler<In, Out> {
  /** Before a session opens: return `false` to refuse the connection; `signal` as for `TcpEventHandler.accept`. */
  accept?(info: ConnectionInfo, signal: AbortSignal): MaybePromise<boolean | void>;
  /** The session is open. */
  open?(session: FramedEventSession<In, Out>): MaybePromise<void>;
  /** One whole frame arrived. Without it frames are decoded (and limits enforced) then dropped. */
  frame?(session: FramedEventSession<In, Out>, frame: Out): MaybePromise<void>;
  /**
   * The server began a graceful close: the session may still write (a goodbye) before it is
   * half-closed, which happens once no `open` or `frame` promise is pending.
   */
  closing?(session: FramedEventSession<In, Out>): void;
  /** The output fell below its high watermark after `send()` or `write()` returned false. */
  drain?(session: FramedEventSession<In, Out>): void;
  /** The peer half-closed, after every frame before it was handled. @default `session.end()` */
  end?(session: FramedEventSession<In, Out>): void;
  /** No traffic for `idleTimeout` ms. @default close the session */
  timeout?(session: FramedEventSession<In, Out>): void;
  /** The session ended with an error (codec error, deadline, handler failure, reset), just before `close`. */
  error?(session: FramedEventSession<In, Out>, error: SwitchboardError): void;
  /** Exactly once per opened session, whatever ended it. */
  close?(session: FramedEventSession<In, Out>, reason: CloseReason): void;
}

/**
 * Async style: one call per framed session; it ends gracefully when the promise resolves and
 * is destroyed when it rejects.
 * @example
 * await listenTcp({ port: 7007 }, framed(() => createLineCodec(), async (session) => {
 *   for await (const line of session.frames()) await session.send(line);
 * }));
 */
export type FramedSessionFunction<In, Out> = (session: FramedAsyncSession<In, Out>) => Promise<void> | void;
