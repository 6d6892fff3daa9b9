/**
 * The contract every framing codec meets: bytes in, whole frames out, and back.
 * Codecs are pure -- no sockets, no timers -- so they are tested by feeding bytes.
 */

/** What an encoder accepts: bytes, or a string encoded as UTF-8 unless the codec says otherwise. */
export type FrameInput = string | Uint8Array;

/**
 * A framing codec: splits a byte stream into frames and turns frames back into bytes.
 *
 * Frames that lie wholly inside one chunk are zero-copy `subarray` views of that chunk, and the
 * codec keeps views of chunks holding an incomplete frame, so a chunk must not be mutated after
 * it is passed to {@link FrameCodec.decode}.
 *
 * **Errors.** Bad input throws a `CodecError` with code `SWB_ERR_FRAME_TOO_LARGE` or
 * `SWB_ERR_BAD_FRAME`. After any throw -- including one from `onFrame` -- the codec repeats its
 * failure on every `decode()`/`finish()` until {@link FrameCodec.reset} is called.
 *
 * @typeParam In - what {@link FrameCodec.encode} accepts.
 * @typeParam Out - what {@link FrameCodec.decode} emits.
 * @example
 * const codec = createLineCodec();
 * socket.on('data', (chunk) => codec.decode(chunk, (line) => console.log(line)));
 * socket.on('end', () => codec.finish((line) => console.log(line)));
 * socket.write(codec.encode('hello'));
 */
export interface FrameCodec<In, Out = In> {
  /**
   * Feeds one chunk; calls `onFrame` synchronously for each complete frame, in order.
   * @throws {CodecError} `SWB_ERR_FRAME_TOO_LARGE` when a frame exceeds the codec's maximum, or
   * `SWB_ERR_BAD_FRAME` when the input is malformed; the codec is then unusable until `reset()`.
   */
  decode(chunk: Buffer, onFrame: (frame: Out) => void): void;
  /** Bytes held for an incomplete frame (used by callers for a partial-frame deadline). */
  readonly pendingBytes: number;
  /**
   * Encodes one frame for sending; may return several buffers so the caller can `writev`/cork
   * without copying the payload.
   * @throws {CodecError} `SWB_ERR_FRAME_TOO_LARGE` or `SWB_ERR_BAD_FRAME` when the same codec's
   * decoder would reject the result, so that every frame encoded decodes back to itself.
   */
  encode(frame: In): Buffer | Buffer[];
  /** Drops buffered state and any recorded failure. */
  reset(): void;
  /**
   * Signals the end of the stream.
   * @throws {CodecError} `SWB_ERR_BAD_FRAME` when a partial frame is pending (truncated input).
   */
  finish(onFrame: (frame: Out) => void): void;
}
