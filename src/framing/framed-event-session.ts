/**
 * An event-style session with a codec. Its own socket listener feeds each chunk to the codec,
 * and each frame goes straight to the `frame` handler: socket -> this file -> codec -> handler.
 * A frame handler that returns a promise holds reading until it settles, so input never queues
 * without bound; `send` encodes.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FrameCodec } from '../codecs/codec.ts';
import { asCodecFailure } from '../codecs/codec-error.ts';
import type { SwitchboardError } from '../core/errors.ts';
import { CloseCause, type CloseReason } from '../tcp/close-reason.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import { EventSession } from '../tcp/event-session.ts';
import { isThenable, type TcpEventHandler } from '../tcp/tcp-handlers.ts';
import { coalescingLimit, writeData } from '../tcp/socket-write.ts';
import { HANDLER_THREW, SessionState, sessionOf, type SessionHost } from '../tcp/tcp-session.ts';
import type { TlsInfo } from '../tls/describe-tls.ts';
import type { StartTlsOptions } from '../tls/server-tls.ts';
import type { FramedEventHandler } from './framed.ts';
import type { FramingLimits, PartialFrameClock } from './framing-limits.ts';

/** The session whose chunk is being decoded: one shared frame callback serves every session, so decoding allocates no closure. */
let decoding: FramedEventSession<unknown, unknown> | undefined;
const kNoFailure = Symbol('no failure');

/**
 * A framed TCP session in event style, given to a {@link FramedEventHandler}. It is an
 * {@link EventSession} too: `write` sends raw bytes, `pause`/`resume` hold reading.
 * @typeParam In - what {@link send} encodes. @typeParam Out - the frames the handler receives.
 * @example
 * framed(() => createLineCodec(), { frame(session, line) { session.send(line.toUpperCase()); } })
 */
export class FramedEventSession<In, Out> extends EventSession {
  readonly #codec: FrameCodec<In, Out>;
  readonly #handler: FramedEventHandler<In, Out>;
  readonly #limits: FramingLimits;
  readonly #clock: PartialFrameClock;
  /** Frames decoded while an async frame handler runs, handled in order once it settles; undefined when none runs. */
  #backlog: Out[] | undefined;
  /** What waits for the backlog to be handled: the end of input, or the close for a codec error. */
  #afterBacklog: (() => void) | undefined;
  #frameHandlerThrew = false;
  /** The codec failed: nothing more is decoded. */
  #failed = false;
  /** STARTTLS asked for by a frame handler mid-chunk: frames after it are counted, not delivered. */
  #tlsRequest: { options: StartTlsOptions; pipelined: number; result: PromiseWithResolvers<TlsInfo> } | undefined;

  /** @internal Created by the server through {@link framed}. */
  constructor(
    id: number,
    socket: Socket,
    info: ConnectionInfo,
    host: SessionHost,
    idleTimeout: number,
    codec: FrameCodec<In, Out>,
    handler: FramedEventHandler<In, Out>,
    limits: FramingLimits,
  ) {
    // The user's callbacks are the event handler as they are (`this` stays theirs); framed()
    // refuses a `data` callback, so the base class reads nothing itself: this class's own
    // listener joins the socket in attachReader(), which the base constructor calls.
    super(id, socket, info, host, idleTimeout, handler as TcpEventHandler);
    this.#codec = codec;
    this.#handler = handler;
    this.#limits = limits;
    this.#clock = limits.clockFor(this, FramedEventSession.#readingFromPeer);
  }

  /** This session's codec (its `encode` gives the bytes `send` would write, e.g. for `server.broadcast`). */
  get codec(): FrameCodec<In, Out> {
    return this.#codec;
  }

  /**
   * Encodes one frame and queues it. Returns false when the output buffer is above its high
   * watermark (wait for `drain`) or the session no longer writes, like `write`.
   * @throws {CodecError} `SWB_ERR_FRAME_TOO_LARGE` or `SWB_ERR_BAD_FRAME` when the codec cannot encode
   * `frame` (a bug in the caller: inside a handler it ends this session as a handler failure)
   */
  send(frame: In): boolean {
    if (this.sessionState !== SessionState.OPEN || this.outputOverflow() !== undefined) return false;
    const bytes = this.#codec.encode(frame);
    // While a chunk is decoded its arrival has just stamped the activity time.
    if (decoding !== this) this.lastActivity = performance.now();
    return this.#flushIfFull(writeData(this.socket, bytes));
  }

  /** The peer half-closed: deliver a last unterminated frame if the codec allows, then `end`. */
  protected override peerEnded(): void {
    if (this.discarding || this.#failed) return; // our side is done, or closing for bad input
    this.#finishInput();
  }

  protected override closedWith(reason: CloseReason): void {
    this.#clock.stop();
    super.closedWith(reason);
  }

  #decode(chunk: Buffer): void {
    const socket = this.socket;
    const outer = decoding;
    decoding = this as FramedEventSession<unknown, unknown>;
    // Replies to every frame of a chunk leave in one writev, as a hand-written server would do.
    socket.cork();
    let failure: unknown = kNoFailure;
    try {
      this.#codec.decode(chunk, FramedEventSession.#deliverFrame as (frame: Out) => void);
    } catch (error) {
      failure = error;
    } finally {
      decoding = outer;
      socket.uncork();
    }
    // Replies to the frames before a bad one have been flushed above; now close.
    if (failure !== kNoFailure) this.#decodeFailed(failure, CloseCause.LIMIT);
    else this.#clock.decoded(this.#codec.pendingBytes);
    // STARTTLS asked for by a frame of this chunk: the upgrade starts now the chunk is decoded.
    if (this.#tlsRequest !== undefined) this.#startRequestedTls();
  }

  #finishInput(): void {
    if (this.#backlog !== undefined) {
      this.#afterBacklog = () => this.#finishInput();
      return;
    }
    const outer = decoding;
    decoding = this as FramedEventSession<unknown, unknown>;
    try {
      this.#codec.finish(FramedEventSession.#deliverFrame as (frame: Out) => void);
    } catch (error) {
      this.#decodeFailed(error, CloseCause.PEER_END); // the peer ended the stream inside a frame
    } finally {
      decoding = outer;
    }
    this.#clock.clear();
    // A last frame handled asynchronously holds the end until it settles.
    if (this.#backlog !== undefined) this.#afterBacklog = () => this.#endInput();
    else this.#endInput();
  }

  #endInput(): void {
    if (this.sessionState === SessionState.CLOSED || this.socket.destroyed || this.#failed) return;
    const end = this.#handler.end;
    if (!end) return this.end();
    this.callHandler('end', end, this.#handler);
  }

  /**
   * STARTTLS. From a frame handler while a chunk is decoded, the upgrade starts once the chunk is:
   * every frame after the command in it is plaintext that followed it, and closes the session.
   */
  override startTls(options: StartTlsOptions = {}): Promise<TlsInfo> {
    if (decoding !== this || this.#tlsRequest !== undefined) return super.startTls(options);
    this.#tlsRequest = { options, pipelined: 0, result: Promise.withResolvers<TlsInfo>() };
    return this.#tlsRequest.result.promise;
  }

  /** The decoding `data` listener joins the socket (at open, and on the `TLSSocket` after `startTls()`). */
  protected override attachReader(): void {
    super.attachReader();
    this.socket.on('data', FramedEventSession.#onSocketData);
  }

  /** STARTTLS: the listener leaves the plaintext socket; frames waiting behind an async handler, and a partial frame, followed the command. */
  protected override detachReader(): number {
    this.socket.off('data', FramedEventSession.#onSocketData);
    return super.detachReader() + (this.#backlog?.length ?? 0) + this.#codec.pendingBytes;
  }

  #startRequestedTls(): void {
    const { options, pipelined, result } = this.#tlsRequest!;
    this.#tlsRequest = undefined;
    const own = options.buffered ?? 0;
    const buffered = pipelined === 0 ? own : (typeof own === 'number' ? own : own.length) + pipelined;
    let upgrade: Promise<TlsInfo>;
    try {
      upgrade = super.startTls({ ...options, buffered });
    } catch (error) {
      return result.reject(error);
    }
    upgrade.then(result.resolve, result.reject);
  }

  #handle(frame: Out): void {
    const onFrame = this.#handler.frame;
    if (onFrame === undefined) return;
    let result: unknown;
    try {
      result = onFrame.call(this.#handler, this, frame);
    } catch (error) {
      this.#frameHandlerThrew = true;
      throw error;
    }
    if (result !== undefined && isThenable(result)) this.#awaitFrame(result);
    else this.#flushIfFull(true);
  }

  /**
   * An async frame handler: later frames wait in the backlog, reading holds and a graceful close
   * waits, until it settles.
   */
  #awaitFrame(pending: PromiseLike<unknown>): void {
    if (this.#backlog === undefined) {
      this.#backlog = [];
      this.hold();
      this.workStarted();
    }
    pending.then(
      () => this.#continue(),
      (error: unknown) => this.#asyncFrameFailed(error),
    );
  }

  #continue(): void {
    const backlog = this.#backlog!;
    const onFrame = this.#handler.frame!;
    while (backlog.length > 0 && this.sessionState !== SessionState.CLOSED) {
      const result = this.callHandler('frame', onFrame, this.#handler, backlog.shift());
      if (result === HANDLER_THREW) break;
      if (result !== undefined && isThenable(result)) {
        result.then(
          () => this.#continue(),
          (error: unknown) => this.#asyncFrameFailed(error),
        );
        return;
      }
    }
    this.#releaseBacklog();
  }

  #asyncFrameFailed(error: unknown): void {
    this.handlerFailed(error, 'frame');
    this.#releaseBacklog();
  }

  #releaseBacklog(): void {
    this.#backlog = undefined;
    this.release();
    this.workDone();
    const after = this.#afterBacklog;
    this.#afterBacklog = undefined;
    after?.();
  }

  /** A codec error closes the session: `limit` for bad input, `peer-end` for a stream ended inside a frame. */
  #decodeFailed(error: unknown, cause: CloseCause): void {
    if (this.#frameHandlerThrew) {
      this.#frameHandlerThrew = false;
      return this.handlerFailed(error, 'frame');
    }
    if (this.#failed) return;
    this.#failed = true;
    this.#clock.clear();
    const failure = asCodecFailure(error);
    // A last frame for the peer goes after the replies to the frames an async handler still holds.
    if (this.#backlog !== undefined && this.#limits.answersCodecErrors) this.#afterBacklog = () => this.#closeForCodecError(cause, failure);
    else this.#closeForCodecError(cause, failure);
  }

  #closeForCodecError(cause: CloseCause, failure: SwitchboardError): void {
    try {
      if (this.#limits.closeForCodecError(this, cause, failure)) this.finishReading();
    } catch (error) {
      this.handlerFailed(error, 'onCodecError');
    }
  }

  /** While corked, hand the kernel what is queued once it reaches the watermark (or the output cap), so a long reply never piles up. */
  #flushIfFull(queued: boolean): boolean {
    const socket = this.socket;
    if (socket.writableCorked > 0 && socket.writableLength >= coalescingLimit(socket, this.outputCap)) {
      socket.uncork();
      socket.cork();
    }
    return queued;
  }

  /** The socket's `data` listener, shared by every session (no closure per session). */
  static #onSocketData(this: Socket, chunk: Buffer): void {
    const session = sessionOf<FramedEventSession<unknown, unknown>>(this);
    if (session.discarding) return;
    session.lastActivity = performance.now();
    session.#decode(chunk);
  }

  /** The codec's frame callback, shared by every session: the frame belongs to the session {@link decoding}. */
  static #deliverFrame(frame: unknown): void {
    const session = decoding!;
    if (session.#tlsRequest !== undefined) session.#tlsRequest.pipelined++;
    else if (session.#backlog !== undefined) session.#backlog.push(frame);
    else session.#handle(frame);
  }

  /** Whether a partial frame's time counts against the peer: while reading is held (a handler, `pause()`), it does not. */
  static #readingFromPeer(session: FramedEventSession<unknown, unknown>): boolean {
    return !session.discarding && !session.socket.isPaused();
  }
}
