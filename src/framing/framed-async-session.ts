/**
 * An async-style session with a codec: `readFrame()` and `frames()` decode as they are read,
 * so a slow consumer leaves bytes in the socket (reading pauses) rather than frames in memory.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { AsyncSession, handledRejection } from '../tcp/async-session.ts';
import type { FrameCodec } from '../codecs/codec.ts';
import { CloseCause, type CloseReason } from '../tcp/close-reason.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import type { SwitchboardError } from '../core/errors.ts';
import { SessionState, type SessionHost } from '../tcp/tcp-session.ts';
import { asCodecFailure, partialFrameExpired } from './framing-errors.ts';
import type { PartialFrameHolder, PartialFrameWatch } from './partial-frames.ts';

// The session whose chunk is being decoded, so one shared function collects every frame.
let collecting: FramedAsyncSession<unknown, unknown> | undefined;
let collectFrame: (frame: unknown) => void;

/**
 * A framed TCP session in async style, given to a {@link FramedSessionFunction}. It is an
 * {@link AsyncSession} too, but read frames with `frames()`/`readFrame()`: raw `read()` and
 * iterating the session itself bypass the codec.
 * @typeParam In - what {@link send} encodes. @typeParam Out - the frames read.
 * @example
 * for await (const line of session.frames()) await session.send(line.toUpperCase());
 */
export class FramedAsyncSession<In, Out> extends AsyncSession implements PartialFrameHolder {
  readonly #codec: FrameCodec<In, Out>;
  readonly #watch: PartialFrameWatch;
  /** Decoded frames not yet read: at most one chunk's worth. */
  #frames: Out[] = [];
  #next = 0;
  #inputDone = false;
  /** True while a reader waits on the socket: only then does a partial frame's clock run. */
  #awaitingInput = false;
  #partialSince = 0;
  /** A codec error, raised once the frames decoded before it have been read. */
  #failure: SwitchboardError | undefined;
  /** `limit` for bad input; `peer-end` for a stream the peer ended inside a frame. */
  #failureCause: CloseCause = CloseCause.LIMIT;

  /** @internal Created by the server through {@link framed}. */
  constructor(id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number, codec: FrameCodec<In, Out>, watch: PartialFrameWatch) {
    super(id, socket, info, host, idleTimeout);
    this.#codec = codec;
    this.#watch = watch;
    watch.add(this);
  }

  /** This session's codec (its `encode` gives the bytes `send` would write, e.g. for `server.broadcast`). */
  get codec(): FrameCodec<In, Out> {
    return this.#codec;
  }

  /**
   * Resolves with the next whole frame, or `null` at end of stream.
   * @throws {CodecError} (rejects) `SWB_ERR_FRAME_TOO_LARGE` / `SWB_ERR_BAD_FRAME`; the session is closed (`limit`)
   * @throws {SwitchboardError} (rejects) the close error when the session ended in error (reset, deadline, …)
   */
  async readFrame(): Promise<Out | null> {
    for (;;) {
      if (this.#next < this.#frames.length) return this.#shift();
      if (this.#failure !== undefined) {
        this.terminate(this.#failureCause, this.#failure, false);
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
    const iterator: AsyncIterableIterator<Out> = {
      next: () => this.readFrame().then((frame): IteratorResult<Out> => (frame === null ? { done: true, value: undefined } : { done: false, value: frame })),
      return: () => Promise.resolve({ done: true, value: undefined }),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Encodes one frame, queues it, and resolves when the kernel has taken it. Like `write`, an
   * unawaited failure never becomes an unhandled rejection: it closes the session instead.
   * @throws {CodecError} (rejects) when the codec cannot encode `frame`; the session is closed
   * (`limit`, with the codec's error) — the reply a peer's input asked for broke the protocol
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
    if (!Array.isArray(bytes)) return this.write(bytes);
    const socket = this.socket;
    socket.cork();
    let last: Promise<void> = Promise.resolve();
    for (const piece of bytes) last = this.write(piece);
    socket.uncork();
    return last;
  }

  /** @internal */
  checkPartialFrame(now: number, timeout: number): void {
    if (this.#partialSince === 0 || this.sessionState === SessionState.CLOSED || this.discarding) return;
    // Only while a reader waits on the peer does a partial frame count against it.
    if (!this.#awaitingInput) {
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

  /** STARTTLS: frames decoded but not read, and a partial frame, are plaintext that followed the command. */
  protected override detachReader(): number {
    return super.detachReader() + (this.#frames.length - this.#next) + this.#codec.pendingBytes;
  }

  #shift(): Out {
    const frame = this.#frames[this.#next++]!;
    if (this.#next === this.#frames.length) {
      this.#frames = [];
      this.#next = 0;
    }
    return frame;
  }

  #decode(chunk: Buffer): void {
    const outer = collecting;
    collecting = this as FramedAsyncSession<unknown, unknown>;
    try {
      this.#codec.decode(chunk, collectFrame as (frame: Out) => void);
    } catch (error) {
      this.#codecFailed(error);
    } finally {
      collecting = outer;
    }
    if (this.#codec.pendingBytes === 0) this.#partialSince = 0;
    else if (this.#partialSince === 0) this.#partialSince = performance.now();
  }

  #finishInput(): void {
    this.#inputDone = true;
    this.#partialSince = 0;
    // Half-closed by the server: the stream ends here, and a partial frame is no fault of the peer's.
    if (this.discarding) return;
    const outer = collecting;
    collecting = this as FramedAsyncSession<unknown, unknown>;
    try {
      this.#codec.finish(collectFrame as (frame: Out) => void);
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
  }

  static {
    collectFrame = function (frame: unknown): void {
      collecting!.#frames.push(frame);
    };
  }
}
