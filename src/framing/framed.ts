/**
 * `framed(createCodec, handler)`: turns frame handlers into a handler `listen` serves, with one
 * codec per session. Codec errors close only that session (`limit`, with the codec's code).
 */
import type { FrameCodec } from '../codecs/codec.ts';
import { InvalidOptionError } from '../core/errors.ts';
import { handlerFailure } from '../server/handler-errors.ts';
import type { EventSession } from '../tcp/event-session.ts';
import { kCreateSession, type TcpEventHandler, type SessionFactory, type TcpSessionFunction, type SessionSource } from '../tcp/tcp-handlers.ts';
import { FramedAsyncSession } from './framed-async-session.ts';
import { FramedEventSession } from './framed-event-session.ts';
import type { FrameHandler, FramedSessionFunction } from './frame-handler.ts';
import { normalizeFramingOptions, type FramingOptions } from './framing-options.ts';
import { PartialFrameWatch } from './partial-frames.ts';

/** What {@link framed} returns for event handlers: an {@link TcpEventHandler} of framed sessions, so `listenTcp` gives a `TcpServer<FramedEventSession<In, Out>>`. */
export type FramedEventHandler<In = unknown, Out = unknown> = TcpEventHandler<FramedEventSession<In, Out>> & SessionSource;
/** What {@link framed} returns for a session function: a {@link TcpSessionFunction} of framed sessions, so `listenTcp` gives a `TcpServer<FramedAsyncSession<In, Out>>`. */
export type FramedSessionHandler<In = unknown, Out = unknown> = TcpSessionFunction<FramedAsyncSession<In, Out>> & SessionSource;

/**
 * Serves sessions as frames: each session gets its own codec from `createCodec`; event handlers
 * receive `frame(session, frame)`, a session function iterates `session.frames()`, and both
 * `session.send(frame)` to encode and write.
 *
 * Errors: a frame too large or malformed closes that session with cause `limit` and the codec's
 * error (`SWB_ERR_FRAME_TOO_LARGE`, `SWB_ERR_BAD_FRAME`); a partial frame older than
 * `partialFrameTimeout` closes it with `SWB_ERR_DEADLINE_EXCEEDED`. Nothing else is affected.
 *
 * @param createCodec called once now (to check its options) and once per session
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for bad options, or whatever `createCodec` throws
 * @example
 * const server = await listenTcp({ port: 7007 }, framed(() => createLineCodec({ maxLineLength: 1024 }), {
 *   frame(session, line) { session.broadcast(session.codec.encode(line)); }, // chat: to everyone else
 * }));
 */
export function framed<In, Out>(createCodec: () => FrameCodec<In, Out>, handler: FrameHandler<In, Out>, options?: FramingOptions): FramedEventHandler<In, Out>;
export function framed<In, Out>(createCodec: () => FrameCodec<In, Out>, serve: FramedSessionFunction<In, Out>, options?: FramingOptions): FramedSessionHandler<In, Out>;
export function framed<In, Out>(
  createCodec: () => FrameCodec<In, Out>,
  handler: FrameHandler<In, Out> | FramedSessionFunction<In, Out>,
  options?: FramingOptions,
): FramedEventHandler<In, Out> | FramedSessionHandler<In, Out> {
  if (typeof createCodec !== 'function') throw new InvalidOptionError('createCodec', 'must be a function returning a codec', createCodec);
  const { partialFrameTimeout } = normalizeFramingOptions(options);
  createCodec(); // bad codec options throw here, at construction, not at the first connection
  const codecFor = (): FrameCodec<In, Out> => {
    try {
      return createCodec();
    } catch (error) {
      return brokenCodec(error); // never throw inside the server's accept path
    }
  };
  const watch = new PartialFrameWatch(partialFrameTimeout);
  if (typeof handler === 'function') {
    const create: SessionFactory = (id, socket, info, host, idleTimeout) =>
      new FramedAsyncSession(id, socket, info, host, idleTimeout, codecFor(), watch);
    const serve = (session: Parameters<TcpSessionFunction>[0]): Promise<void> | void => handler(session as FramedAsyncSession<In, Out>);
    return Object.assign(serve, { [kCreateSession]: create });
  }
  if (typeof handler !== 'object' || handler === null) throw new InvalidOptionError('handler', 'must be an object of frame handlers or a session function', handler);
  return framedEventHandler(codecFor, handler, watch);
}

function framedEventHandler<In, Out>(createCodec: () => FrameCodec<In, Out>, frames: FrameHandler<In, Out>, watch: PartialFrameWatch): FramedEventHandler<In, Out> {
  type Session = FramedEventSession<In, Out>;
  const as = (session: EventSession): Session => session as Session;
  const wrapper: FramedEventHandler<In, Out> = {
    data: (session, chunk) => as(session).receive(chunk),
    end: (session) => as(session).finishInput(frames.end && (() => frames.end!(as(session)))),
    [kCreateSession]: (id, socket, info, host, idleTimeout) =>
      new FramedEventSession(id, socket, info, host, idleTimeout, wrapper, createCodec(), frames, watch),
  };
  // Only the callbacks the user wrote: the session's defaults depend on which are present.
  if (frames.accept) wrapper.accept = (info, signal) => frames.accept!(info, signal);
  if (frames.open) wrapper.open = (session) => frames.open!(as(session));
  if (frames.drain) wrapper.drain = (session) => frames.drain!(as(session));
  if (frames.closing) wrapper.closing = (session) => frames.closing!(as(session));
  if (frames.timeout) wrapper.timeout = (session) => frames.timeout!(as(session));
  if (frames.error) wrapper.error = (session, error) => frames.error!(as(session), error);
  if (frames.close) wrapper.close = (session, reason) => frames.close!(as(session), reason);
  return wrapper;
}

/** Stands in for a codec `createCodec` failed to make: the session closes at its first chunk. */
function brokenCodec<In, Out>(cause: unknown): FrameCodec<In, Out> {
  const fail = (): never => {
    throw handlerFailure('createCodec failed', cause);
  };
  return { pendingBytes: 0, decode: fail, encode: fail, finish: fail, reset() {} };
}
