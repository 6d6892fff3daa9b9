/**
 * An event-style session with a codec: each chunk is decoded into frames for the `frame`
 * handler, and `send` encodes. A frame handler that returns a promise holds reading until it
 * settles, so input never queues without bound.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { FrameCodec } from '../codecs/codec.ts';
import { CloseCause, type CloseReason } from '../tcp/close-reason.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import { EventSession } from '../tcp/event-session.ts';
import { isThenable, type TcpEventHandler } from '../tcp/tcp-handlers.ts';
import { HANDLER_THREW, SessionState, type SessionHost } from '../tcp/tcp-session.ts';
import type { TlsInfo } from '../tls/describe-tls.ts';
import type { StartTlsOptions } from '../tls/server-tls.ts';
import type { FrameHandler } from './frame-handler.ts';
import { asCodecFailure, partialFrameExpired } from './framing-errors.ts';
import type { PartialFrameHolder, PartialFrameWatch } from './partial-frames.ts';

// The session whose chunk is being decoded: lets one shared function receive every frame, so
// decoding allocates no closure per chunk or per session.
let decoding: FramedEventSession<unknown, unknown> | undefined;
let deliverFrame: (frame: unknown) => void;
const kNoFailure = Symbol('no failure');

/**
 * A framed TCP session in event style, given to a {@link FrameHandler}. It is an
 * {@link EventSession} too: `write` sends raw bytes, `pause`/`resume` hold reading.
 * @typeParam In - what {@link send} encodes. @typeParam Out - the frames the handler receives.
 * @example
 * framed(() => createLineCodec(), { frame(session, line) { session.send(line.toUpperCase()); } })
 */
export class FramedEventSession<In, Out> extends EventSession implements PartialFrameHolder {
  readonly #codec: FrameCodec<In, Out>;
  readonly #frames: FrameHandler<In, Out>;
  readonly #watch: PartialFrameWatch;
  /** performance.now() when the current partial frame began; 0 when none is pending. */
  #partialSince = 0;
  /** Frames decoded while an async frame handler runs, delivered in order after it settles. */
  #backlog: Out[] | undefined;
  #backlogDone: PromiseWithResolvers<void> | undefined;
  #frameHandlerThrew = false;
  /** STARTTLS asked for by a frame handler mid-chunk: frames after it are counted, not delivered. */
  #tlsRequest: { options: StartTlsOptions; pipelined: number; result: PromiseWithResolvers<TlsInfo> } | undefined;

  /** @internal Created by the server through {@link framed}. */
  constructor(
    id: number,
    socket: Socket,
    info: ConnectionInfo,
    host: SessionHost,
    idleTimeout: number,
    handler: TcpEventHandler,
    codec: FrameCodec<In, Out>,
    frames: FrameHandler<In, Out>,
    watch: PartialFrameWatch,
  ) {
    super(id, socket, info, host, idleTimeout, handler);
    this.#codec = codec;
    this.#frames = frames;
    this.#watch = watch;
    watch.add(this);
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
    const socket = this.socket;
    let queued: boolean;
    if (!Array.isArray(bytes)) queued = socket.write(bytes);
    else if (socket.writableCorked > 0) {
      queued = true;
      for (const piece of bytes) queued = socket.write(piece);
    } else {
      socket.cork();
      queued = true;
      for (const piece of bytes) queued = socket.write(piece);
      socket.uncork();
    }
    return this.#flushIfFull(queued);
  }

  /** Feeds one chunk to the codec. @internal */
  receive(chunk: Buffer): Promise<void> | undefined {
    const socket = this.socket;
    const outer = decoding;
    decoding = this as FramedEventSession<unknown, unknown>;
    // Replies to every frame of a chunk leave in one writev, as a hand-written server would do.
    socket.cork();
    let failure: unknown = kNoFailure;
    try {
      this.#codec.decode(chunk, deliverFrame as (frame: Out) => void);
    } catch (error) {
      failure = error;
    } finally {
      decoding = outer;
      socket.uncork();
    }
    // Replies to the frames before a bad one have been flushed above; now close.
    if (failure !== kNoFailure) this.#decodeFailed(failure, CloseCause.LIMIT);
    if (this.#tlsRequest !== undefined) this.#startRequestedTls();
    if (this.#codec.pendingBytes === 0) this.#partialSince = 0;
    else if (this.#partialSince === 0) this.#partialSince = performance.now();
    return this.#backlogDone?.promise;
  }

  /** The peer half-closed: deliver a last unterminated frame if the codec allows, then end. @internal */
  finishInput(end: (() => void) | undefined): void {
    if (this.#backlogDone) {
      void this.#backlogDone.promise.then(() => this.finishInput(end));
      return;
    }
    const outer = decoding;
    decoding = this as FramedEventSession<unknown, unknown>;
    try {
      this.#codec.finish(deliverFrame as (frame: Out) => void);
    } catch (error) {
      this.#decodeFailed(error, CloseCause.PEER_END); // the peer ended the stream inside a frame
    } finally {
      decoding = outer;
    }
    this.#partialSince = 0;
    const finish = (): void => {
      if (this.sessionState === SessionState.CLOSED || this.socket.destroyed) return;
      if (!end) return this.end();
      this.callHandler('end', end, undefined);
    };
    // A last frame handled asynchronously holds the end until it settles.
    const held = this.#backlogDone as PromiseWithResolvers<void> | undefined;
    if (held) void held.promise.then(finish);
    else finish();
  }

  /** @internal */
  checkPartialFrame(now: number, timeout: number): void {
    if (this.#partialSince === 0 || this.sessionState === SessionState.CLOSED || this.discarding) return;
    // While reading is held (by a handler or `pause()`), the peer is not the one to blame.
    if (this.socket.isPaused()) {
      this.#partialSince = now;
      return;
    }
    if (now - this.#partialSince < timeout) return;
    this.terminate(CloseCause.LIMIT, partialFrameExpired(this.id, this.#codec.pendingBytes, timeout), false);
  }

  protected override closedWith(reason: CloseReason): void {
    this.#watch.delete(this);
    super.closedWith(reason);
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

  /** STARTTLS: frames waiting behind an async handler, and a partial frame, followed the command. */
  protected override detachReader(): number {
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
    const onFrame = this.#frames.frame;
    if (onFrame === undefined) return;
    let result: unknown;
    try {
      result = onFrame.call(this.#frames, this, frame);
    } catch (error) {
      this.#frameHandlerThrew = true;
      throw error;
    }
    if (result !== undefined && isThenable(result)) this.#hold(result);
    else this.#flushIfFull(true);
  }

  /** An async frame handler: later frames wait in the backlog and reading stops until it settles. */
  #hold(pending: PromiseLike<unknown>): void {
    this.#backlog ??= [];
    this.#backlogDone ??= Promise.withResolvers<void>();
    pending.then(
      () => this.#continue(),
      (error: unknown) => this.#asyncFrameFailed(error),
    );
  }

  #continue(): void {
    const backlog = this.#backlog!;
    const onFrame = this.#frames.frame!;
    while (backlog.length > 0 && this.sessionState !== SessionState.CLOSED) {
      const result = this.callHandler('frame', onFrame, this.#frames, backlog.shift());
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
    const done = this.#backlogDone;
    this.#backlog = undefined;
    this.#backlogDone = undefined;
    done?.resolve();
  }

  /** A codec error closes the session: `limit` for bad input, `peer-end` for a stream ended inside a frame. */
  #decodeFailed(error: unknown, cause: CloseCause): void {
    if (this.#frameHandlerThrew) {
      this.#frameHandlerThrew = false;
      return this.handlerFailed(error, 'frame');
    }
    this.terminate(cause, asCodecFailure(error), false);
  }

  /** While corked, hand the kernel what is queued once it reaches the watermark, so a long reply never piles up. */
  #flushIfFull(queued: boolean): boolean {
    const socket = this.socket;
    if (socket.writableCorked > 0 && socket.writableLength >= socket.writableHighWaterMark) {
      socket.uncork();
      socket.cork();
    }
    return queued;
  }

  static {
    deliverFrame = function (frame: unknown): void {
      const session = decoding!;
      if (session.#tlsRequest !== undefined) session.#tlsRequest.pipelined++;
      else if (session.#backlog !== undefined) session.#backlog.push(frame);
      else session.#handle(frame);
    };
  }
}

