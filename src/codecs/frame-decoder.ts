/**
 * The base every codec here extends, as Netty's four frame decoders extend `ByteToMessageDecoder`:
 * it holds the bytes of an incomplete frame and the failure guard around decoding, so a codec
 * writes only how it finds frames (`decodeFrames`), what the end of the stream means
 * (`endOfStream`) and how it encodes.
 */
import { ErrorCode } from '../core/errors.ts';
import type { FrameCodec } from './codec.ts';
import { CodecError } from './codec-error.ts';
import { PendingBytes } from './pending-bytes.ts';

/**
 * A {@link FrameCodec} whose `decode`/`finish` fail the same way on every call after a throw,
 * until `reset()`: after a throw the buffered state is no longer trustworthy. The guard is a
 * field test and a `try` around a method call -- no closure, no allocation per chunk.
 * @internal
 */
export abstract class FrameDecoder<In, Out> implements FrameCodec<In, Out> {
  /** The bytes of the incomplete frame, as views of the chunks they arrived in. */
  protected readonly pending: PendingBytes;
  /** Why decoding stopped, rethrown until `reset()`. */
  #failure: CodecError | undefined;

  constructor() {
    this.pending = new PendingBytes();
    this.#failure = undefined;
  }

  get pendingBytes(): number {
    return this.pending.length;
  }

  decode(chunk: Buffer, onFrame: (frame: Out) => void): void {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      this.decodeFrames(chunk, onFrame);
    } catch (error) {
      throw this.#failed(error);
    }
  }

  finish(onFrame: (frame: Out) => void): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.pending.length === 0) return;
    try {
      this.endOfStream(onFrame);
    } catch (error) {
      throw this.#failed(error);
    }
  }

  reset(): void {
    this.pending.clear();
    this.#failure = undefined;
    this.resetState();
  }

  abstract encode(frame: In): Buffer | Buffer[];

  /** Finds the frames `chunk` completes and passes each to `onFrame`, holding the rest in {@link pending}. */
  protected abstract decodeFrames(chunk: Buffer, onFrame: (frame: Out) => void): void;

  /**
   * The stream ended with bytes pending (never none): emit a last frame, or throw
   * `SWB_ERR_BAD_FRAME` for a stream that ended inside one.
   */
  protected abstract endOfStream(onFrame: (frame: Out) => void): void;

  /** Clears what the codec keeps beside the pending bytes (called by `reset()`). */
  protected resetState(): void {}

  /** Records why decoding stopped -- anything but a CodecError (a throw from `onFrame`) as `SWB_ERR_BAD_FRAME` -- and returns `error` to rethrow. */
  #failed(error: unknown): unknown {
    this.#failure =
      error instanceof CodecError
        ? error
        : new CodecError(ErrorCode.BAD_FRAME, 'decoding was interrupted by an exception; call reset() before reuse', { cause: error });
    return error;
  }
}
