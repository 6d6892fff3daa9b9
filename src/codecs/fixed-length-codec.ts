/**
 * Frames of one fixed size (Netty `FixedLengthFrameDecoder`): every `frameLength` bytes of the
 * stream are one frame.
 */
import { optionNames } from '../core/options.ts';
import type { FrameCodec, FrameInput } from './codec.ts';
import { badFrame, frameTooLarge } from './codec-error.ts';
import { optionsRecord, positiveLengthOption } from './codec-options.ts';
import { FrameDecoder } from './frame-decoder.ts';
import { frameInputToBuffer } from './frame-input.ts';

/** Options of {@link createFixedLengthCodec}. */
export interface FixedLengthCodecOptions {
  /** The size of every frame, in bytes. Required: a positive integer. */
  frameLength: number;
}
const FIXED_LENGTH_CODEC_OPTIONS = optionNames<FixedLengthCodecOptions>({ frameLength: true });

/**
 * Creates a codec for frames of exactly `frameLength` bytes; frames are Buffers.
 *
 * The encoder takes a frame of exactly `frameLength` bytes (or a string, as UTF-8) and returns it
 * as it is.
 *
 * **Errors.** Decoding fails only at `finish()`, with `SWB_ERR_BAD_FRAME`, when the stream ends
 * inside a frame. Encoding fails with `SWB_ERR_FRAME_TOO_LARGE` for a longer frame and with
 * `SWB_ERR_BAD_FRAME` for a shorter one.
 *
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` when `frameLength` is not a positive integer.
 * @example
 * // 16-byte sensor records
 * const codec = createFixedLengthCodec({ frameLength: 16 });
 * socket.on('data', (chunk) => codec.decode(chunk, (record) => store(record.readDoubleBE(8))));
 */
export function createFixedLengthCodec(options: FixedLengthCodecOptions): FrameCodec<FrameInput, Buffer> {
  return new FixedLengthCodec(options);
}

class FixedLengthCodec extends FrameDecoder<FrameInput, Buffer> {
  readonly #frameLength: number;

  constructor(options: FixedLengthCodecOptions) {
    super();
    const record = optionsRecord(options, FIXED_LENGTH_CODEC_OPTIONS);
    this.#frameLength = positiveLengthOption(record, 'frameLength');
  }

  encode(frame: FrameInput): Buffer {
    const bytes = frameInputToBuffer(frame);
    if (bytes.length > this.#frameLength) {
      throw frameTooLarge(`cannot encode a ${bytes.length}-byte frame: frameLength is ${this.#frameLength}`);
    }
    if (bytes.length < this.#frameLength) {
      throw badFrame(`cannot encode a ${bytes.length}-byte frame: frameLength is ${this.#frameLength}`);
    }
    return bytes;
  }

  protected decodeFrames(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const frameLength = this.#frameLength;
    const pending = this.pending;
    let start = 0;
    if (pending.length > 0) {
      const needed = frameLength - pending.length;
      if (chunk.length < needed) {
        pending.push(chunk);
        return;
      }
      onFrame(pending.take(chunk, 0, chunk.length - needed));
      start = needed;
    }
    while (chunk.length - start >= frameLength) {
      onFrame(chunk.subarray(start, start + frameLength));
      start += frameLength;
    }
    if (start < chunk.length) pending.push(start === 0 ? chunk : chunk.subarray(start));
  }

  protected endOfStream(): void {
    throw badFrame(`stream ended inside a frame (${this.pending.length} of ${this.#frameLength} bytes)`);
  }
}
