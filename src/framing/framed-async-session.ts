/**
 * An async-style session with a codec: `readFrame()` and `frames()` decode as they are read,
 * so a slow consumer leaves bytes in the socket (reading pauses) rather than frames in memory.
 */
import type { Socket } from 'node:net';
import type { FrameCodec } from '../codecs/codec.ts';
import { asCodecFailure } from '../codecs/codec-error.ts';
import type { SwitchboardError } from '../core/errors.ts';
import { AsyncSession, handledRejection } from '../tcp/async-session.ts';
import { CloseCause, type CloseReason } from '../tcp/close-reason.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import { SessionState, type SessionHost } from '../tcp/tcp-session.ts';
import type { FramingLimits, PartialFrameClock } from './framing-limits.ts';

/** `frames()`: a frame, or the end of stream (`null`), as an iterator result. */
function toIteratorResult<Out>(frame: Out | null): IteratorResult<Out> {
  return frame === null ? { done: true, value: undefined } : { done: false, value: frame };
}

/** No decoded frame waiting: shared, never written (the first frame of a chunk gets a new array). */
const NO_FRAMES: readonly unknown[] = Object.freeze([]);

/** The session whose chunk is being decoded, so one shared function collects every frame. */
let collecting: FramedAsyncSession<unknown, unknown> | undefined;

/**
 * A framed TCP session in async style, given to a {@link FramedSessionFunction}. It is an
 * {@link AsyncSession} too, but read frames with `frames()`/`readFrame()`: raw `read()` and
 * iterating the session itself bypass the codec.
 * @typeParam In - what {@link send} encodes. @typeParam Out - the frames read.
 * @example
 * for await (const line of session.frames()) await session.send(line.toUpperCase());
 */
export class FramedAsyncSession<In, Out> extends AsyncSession {
  readonly #codec: FrameCodec<In, Out>;
  readonly #limits: FramingLimits;
  readonly #clock: PartialFrameClock;
  /** Decoded frames not yet read: at most one chunk's worth ({@link NO_FRAMES} when none). */
  #frames: Out[] = NO_FRAMES as Out[];
  #next = 0;
  #inputDone = false;
  /** True while a reader waits on the socket: only then does a partial frame's clock run. */
  #awaitingInput = false;
  /** A codec error, raised once the frames decoded before it have been read. */
  #failure: SwitchboardError | undefined;
  /** `limit` for bad input; `peer-end` for a stream the peer ended inside a frame. */
  #failureCause: CloseCause = CloseCause.LIMIT;
  /** The session has been closed (or half-closed) for {@link #failure}. */
  #closedForFailure = false;

  /** @internal Created by the server through {@link framed}. */
  constructor(id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number, codec: FrameCodec<In, Out>, limits: FramingLimits) {
    super(id, socket, info, host, idleTimeout);
    this.#codec = codec;
    this.#limits = limits;
    this.#clock = limits.clockFor(this, FramedAsyncSession.#readingFromPeer);
  }

  /** This session's codec (its `encode` gives the bytes `send` would write, e.g. for `server.broadcast`). */
  get codec(): FrameCodec<In, Out> {
    return this.#codec;
  }

  /**
   * Resolves with the next whole frame, or `null` at end of stream.
   * @throws {CodecError} (rejects) `SWB_ERR_FRAME_TOO_LARGE` / `SWB_ERR_BAD_FRAME`; the session is closed (`limit`),
   * after the last frame `onCodecError` gives, if any
   * @throws {SwitchboardError} (rejects) the close error when the session ended in error (reset, deadline, ...)
   */
  readFrame(): Promise<Out | null> {
    // A frame decoded from the last chunk is there already: no async function, no hop.
    if (this.#next < this.#frames.length) return Promise.resolve(this.#shift());
    return this.#readFrameFromSocket();
  }

  /** {@link readFrame} when no decoded frame is waiting: reads (and decodes) until one is, or the stream ends. */
  async #readFrameFromSocket(): Promise<Out | null> {
    for (;;) {
      if (this.#next < this.#frames.length) return this.#shift();
      if (this.#failure !== undefined) {
        this.#closeForCodecError(this.#failure);
        throw this.#failure;
      }
      if (this.#inputDone) return null;
      this.#awaitingInput = true;
      let chunk: Buffer | null;
      try {
        chunk = await this.read();
      } finally {
        this.#awaitingInput = false;
      }
      if (chunk === null) this.#finishInput();
      else this.#decode(chunk);
    }
  }

  /**
   * The frames as they arrive, until end of stream. Leaving the loop early does not close the session.
   * @example
   * for await (const frame of session.frames()) handle(frame);
   */
  frames(): AsyncIterableIterator<Out> {
    return new FrameIterator(this);
  }

  /** The `frames()` iterator's `next()`. @internal */
  nextFrameResult(): Promise<IteratorResult<Out>> {
    // A frame already decoded resolves at once; only a read from the socket goes through the async path.
    if (this.#next < this.#frames.length) return Promise.resolve({ done: false, value: this.#shift() });
    return this.#readFrameFromSocket().then(toIteratorResult);
  }

  /**
   * Encodes one frame, queues it, and resolves when the kernel has taken it. Like `write`, an
   * unawaited failure never becomes an unhandled rejection: it closes the session instead.
   * @throws {CodecError} (rejects) when the codec cannot encode `frame`; the session is closed
   * (`limit`, with the codec's error) -- the reply a peer's input asked for broke the protocol
   * @throws {SwitchboardError} (rejects) `SWB_ERR_SESSION_CLOSED`, `SWB_ERR_OUTPUT_OVERFLOW` as `write` does
   */
  send(frame: In): Promise<void> {
    let bytes: Buffer | Buffer[];
    try {
      bytes = this.#codec.encode(frame);
    } catch (error) {
      const failure = asCodecFailure(error);
      this.terminate(CloseCause.LIMIT, failure, false);
      return handledRejection(failure);
    }
    return this.write(bytes);
  }

  protected override closedWith(reason: CloseReason): void {
    this.#clock.stop();
    super.closedWith(reason);
  }

  /** STARTTLS: frames decoded but not read, and a partial frame, are plaintext that followed the command. */
  protected override detachReader(): number {
    return super.detachReader() + (this.#frames.length - this.#next) + this.#codec.pendingBytes;
  }

  /** The codec error this session is closing for, rethrown by the session function, is no handler bug. */
  protected override handlerFailed(error: unknown, callback: string): void {
    if (this.#closedForFailure && error === this.#failure) return;
    super.handlerFailed(error, callback);
  }

  #shift(): Out {
    const frame = this.#frames[this.#next++]!;
    if (this.#next === this.#frames.length) {
      this.#frames = NO_FRAMES as Out[];
      this.#next = 0;
    } else {
      // More frames of the same chunk follow: the reply to this one waits for theirs (one writev).
      this.coalesceNextWrite();
    }
    return frame;
  }

  #decode(chunk: Buffer): void {
    const outer = collecting;
    collecting = this as FramedAsyncSession<unknown, unknown>;
    try {
      this.#codec.decode(chunk, FramedAsyncSession.#collectFrame as (frame: Out) => void);
    } catch (error) {
      this.#codecFailed(error);
    } finally {
      collecting = outer;
    }
    this.#clock.decoded(this.#codec.pendingBytes);
  }

  #finishInput(): void {
    this.#inputDone = true;
    this.#clock.clear();
    // Half-closed by the server: the stream ends here, and a partial frame is no fault of the peer's.
    if (this.discarding) return;
    const outer = collecting;
    collecting = this as FramedAsyncSession<unknown, unknown>;
    try {
      this.#codec.finish(FramedAsyncSession.#collectFrame as (frame: Out) => void);
    } catch (error) {
      this.#codecFailed(error);
      this.#failureCause = CloseCause.PEER_END; // the peer ended the stream inside a frame
    } finally {
      collecting = outer;
    }
  }

  /**
   * A codec error: the frames decoded before it are read first (at most one chunk's worth, and
   * no more input is decoded), then the reader gets the error and the session closes.
   */
  #codecFailed(error: unknown): void {
    this.#failure = asCodecFailure(error);
    this.#clock.clear();
  }

  /** Once: the session closes for the codec error, after the last frame `onCodecError` gives, if any. */
  #closeForCodecError(failure: SwitchboardError): void {
    if (this.#closedForFailure) return;
    this.#closedForFailure = true;
    try {
      if (this.#limits.closeForCodecError(this, this.#failureCause, failure)) this.finishReading();
    } catch (error) {
      this.handlerFailed(error, 'onCodecError');
    }
  }

  /** The codec's frame callback, shared by every session: the frame belongs to the session {@link collecting}. */
  static #collectFrame(frame: unknown): void {
    const session = collecting!;
    if (session.#frames === NO_FRAMES) session.#frames = [frame];
    else session.#frames.push(frame);
  }

  /** Whether a partial frame's time counts against the peer: only while a reader waits on it. */
  static #readingFromPeer(session: FramedAsyncSession<unknown, unknown>): boolean {
    return session.#awaitingInput && !session.discarding;
  }
}

/** The iterator of `frames()`: one small object per loop, its methods on the prototype. */
class FrameIterator<Out> implements AsyncIterableIterator<Out> {
  readonly #session: FramedAsyncSession<unknown, Out>;

  constructor(session: FramedAsyncSession<unknown, Out>) {
    this.#session = session;
  }

  next(): Promise<IteratorResult<Out>> {
    return this.#session.nextFrameResult();
  }

  return(): Promise<IteratorResult<Out>> {
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Out> {
    return this;
  }
}
