/**
 * `framed(createCodec, handler, options?)`: serves sessions as frames, one codec per session, in
 * either style -- event handlers with a `frame` callback, or an async function over
 * `session.frames()`. What it returns, a {@link FramedHandler}, tells the server which session
 * class to make; the sessions own their decode loop (framed-event-session.ts,
 * framed-async-session.ts) and share their limits (framing-limits.ts).
 */
import type { FrameCodec, FrameInput } from '../codecs/codec.ts';
import type { CodecError } from '../codecs/codec-error.ts';
import { ErrorCode, InvalidOptionError, SwitchboardError } from '../core/errors.ts';
import { durationOption, optionNames, optionsObject } from '../core/options.ts';
import type { AsyncSession } from '../tcp/async-session.ts';
import type { CloseReason } from '../tcp/close-reason.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import { SessionProvider, type MaybePromise } from '../tcp/tcp-handlers.ts';
import type { SessionHost, TcpSession } from '../tcp/tcp-session.ts';
import type { Socket } from 'node:net';
import { FramedAsyncSession } from './framed-async-session.ts';
import { FramedEventSession } from './framed-event-session.ts';
import { FramingLimits, type CodecErrorHook } from './framing-limits.ts';

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
export interface FramedEventHandler<In, Out> {
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

/** The default partial-frame deadline: 30 s from a frame's first byte to its last. */
export const DEFAULT_PARTIAL_FRAME_TIMEOUT = 30_000;

/** How long a session that sent `onCodecError`'s last frame waits for the peer to close, by default. */
const DEFAULT_LAST_FRAME_TIMEOUT = 10_000;

/**
 * Options of {@link framed}.
 * @typeParam In - what the codec encodes (the type of a last frame). @typeParam S - the session type.
 */
export interface FramingOptions<In = FrameInput, S extends TcpSession = TcpSession> {
  /**
   * A frame whose first bytes have arrived must be complete within this many ms (counted while
   * the session is reading, not while a handler holds it up), else the session closes with
   * `SWB_ERR_DEADLINE_EXCEEDED` -- a slowloris peer sending a byte every few seconds. 0 disables.
   * @default 30000
   */
  partialFrameTimeout?: number;
  /**
   * Called when the peer's bytes break the codec (`SWB_ERR_FRAME_TOO_LARGE`, `SWB_ERR_BAD_FRAME`),
   * after the frames before the bad one were handled and just before the session closes. Return a
   * frame to tell the peer why (`'ERR line too long'`): it is encoded with the session's codec and
   * written, then the session half-closes, drops what the peer still sends and closes at its FIN --
   * or is reset after `lastFrameTimeout`. Return nothing to close at once, as without the hook. The
   * close reason is the codec error either way. A hook that throws (or a frame the codec cannot
   * encode) is reported as a handler failure and the session is destroyed.
   * @example
   * onCodecError: (error) => (error.code === 'SWB_ERR_FRAME_TOO_LARGE' ? 'ERR line too long' : 'ERR bad input')
   */
  onCodecError?(error: CodecError, session: S): In | undefined | void;
  /**
   * After `onCodecError`'s last frame, how long the half-closed session waits for the peer to
   * read it and close its side, in ms, before it is reset. 0 waits as long as `idleTimeout` allows.
   * @default 10000
   */
  lastFrameTimeout?: number;
}

/**
 * What {@link framed} returns: pass it to `listenTcp` (or `new TcpServer`) as the handler, and
 * each connection is served as a framed session of type `S`. Its members are internal.
 * @typeParam S - `FramedEventSession<In, Out>` for event handlers, `FramedAsyncSession<In, Out>` for a session function.
 */
export class FramedHandler<S extends TcpSession = TcpSession> extends SessionProvider<S> {
  readonly #createCodec: () => FrameCodec<unknown, unknown>;
  readonly #handler: FramedEventHandler<unknown, unknown> | FramedSessionFunction<unknown, unknown>;
  readonly #limits: FramingLimits;

  /** @internal Made by {@link framed}. */
  constructor(
    createCodec: () => FrameCodec<unknown, unknown>,
    handler: FramedEventHandler<unknown, unknown> | FramedSessionFunction<unknown, unknown>,
    limits: FramingLimits,
  ) {
    super();
    this.#createCodec = createCodec;
    this.#handler = handler;
    this.#limits = limits;
    const accept = typeof handler === 'function' ? undefined : handler.accept;
    if (accept !== undefined) this.accept = (info, signal) => accept.call(handler, info, signal);
  }

  /** @internal */
  createSession(id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number): S {
    const codec = this.#codecForSession();
    const handler = this.#handler;
    const session =
      typeof handler === 'function'
        ? new FramedAsyncSession(id, socket, info, host, idleTimeout, codec, this.#limits)
        : new FramedEventSession(id, socket, info, host, idleTimeout, codec, handler, this.#limits);
    return session as TcpSession as S;
  }

  /** @internal */
  startSession(session: S): void {
    const handler = this.#handler;
    if (typeof handler === 'function') (session as TcpSession as AsyncSession).run(handler as (session: AsyncSession) => Promise<void> | void);
    else (session as TcpSession as FramedEventSession<unknown, unknown>).start();
  }

  #codecForSession(): FrameCodec<unknown, unknown> {
    try {
      return this.#createCodec();
    } catch (error) {
      return brokenCodec(error); // never throw inside the server's accept path
    }
  }
}

/**
 * Serves sessions as frames: each session gets its own codec from `createCodec`; event handlers
 * receive `frame(session, frame)`, a session function iterates `session.frames()`, and both
 * `session.send(frame)` to encode and write.
 *
 * Errors: a frame too large or malformed closes that session with cause `limit` and the codec's
 * error (`SWB_ERR_FRAME_TOO_LARGE`, `SWB_ERR_BAD_FRAME`), after the last frame `onCodecError`
 * gives, if any; a partial frame older than `partialFrameTimeout` closes it with
 * `SWB_ERR_DEADLINE_EXCEEDED`. Nothing else is affected.
 *
 * @param createCodec called once now (to check its options) and once per session
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for bad options, a `data` callback among
 * event handlers (frames arrive in `frame`), or whatever `createCodec` throws
 * @example
 * const server = await listenTcp({ port: 7007 }, framed(() => createLineCodec({ maxLineLength: 1024 }), {
 *   frame(session, line) { session.broadcast(session.codec.encode(line)); }, // chat: to everyone else
 * }, { onCodecError: () => 'ERR line too long' }));
 */
export function framed<In, Out>(
  createCodec: () => FrameCodec<In, Out>,
  handler: FramedEventHandler<In, Out>,
  options?: FramingOptions<In, FramedEventSession<In, Out>>,
): FramedHandler<FramedEventSession<In, Out>>;
export function framed<In, Out>(
  createCodec: () => FrameCodec<In, Out>,
  serve: FramedSessionFunction<In, Out>,
  options?: FramingOptions<In, FramedAsyncSession<In, Out>>,
): FramedHandler<FramedAsyncSession<In, Out>>;
export function framed<In, Out>(
  createCodec: () => FrameCodec<In, Out>,
  handler: FramedEventHandler<In, Out> | FramedSessionFunction<In, Out>,
  options?: FramingOptions<In, never>,
): FramedHandler<FramedEventSession<In, Out>> | FramedHandler<FramedAsyncSession<In, Out>> {
  if (typeof createCodec !== 'function') throw new InvalidOptionError('createCodec', 'must be a function returning a codec', createCodec);
  const limits = new FramingLimits(normalizeFramingOptions(options));
  createCodec(); // bad codec options throw here, at construction, not at the first connection
  if (typeof handler !== 'function') {
    if (typeof handler !== 'object' || handler === null) throw new InvalidOptionError('handler', 'must be an object of frame handlers or a session function', handler);
    // The user's object serves as the session's event handler: a `data` callback would see raw bytes beside the frames.
    const data = (handler as { data?: unknown }).data;
    if (data !== undefined) throw new InvalidOptionError('handler.data', 'is not a framed handler callback: frames arrive in frame(session, frame)', data);
  }
  return new FramedHandler<FramedEventSession<In, Out>>(createCodec, handler as FramedEventHandler<unknown, unknown> | FramedSessionFunction<unknown, unknown>, limits);
}

const FRAMING_OPTION_NAMES = optionNames<FramingOptions<unknown, never>>({ partialFrameTimeout: true, onCodecError: true, lastFrameTimeout: true });

/**
 * Checks framing options and applies defaults.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the option and its constraint
 */
function normalizeFramingOptions(input: FramingOptions<unknown, never> | undefined): ConstructorParameters<typeof FramingLimits>[0] {
  const options = optionsObject('options', input, FRAMING_OPTION_NAMES);
  const onCodecError = options.onCodecError;
  if (onCodecError !== undefined && typeof onCodecError !== 'function') throw new InvalidOptionError('onCodecError', 'must be a function', onCodecError);
  return {
    partialFrameTimeout: durationOption('partialFrameTimeout', options.partialFrameTimeout, DEFAULT_PARTIAL_FRAME_TIMEOUT),
    onCodecError: onCodecError as CodecErrorHook | undefined,
    lastFrameTimeout: durationOption('lastFrameTimeout', options.lastFrameTimeout, DEFAULT_LAST_FRAME_TIMEOUT),
  };
}

/** Stands in for a codec `createCodec` failed to make: the session closes at its first chunk. */
function brokenCodec(cause: unknown): FrameCodec<unknown, unknown> {
  const fail = (): never => {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new SwitchboardError(ErrorCode.HANDLER_FAILED, `createCodec failed: ${message}`, { cause });
  };
  return { pendingBytes: 0, decode: fail, encode: fail, finish: fail, reset() {} };
}
