/**
 * Frames ended by an arbitrary byte sequence (Netty `DelimiterBasedFrameDecoder`, tokio-util
 * `AnyDelimiterCodec`), including multi-byte delimiters split across chunks.
 */
import { InvalidOptionError } from '../core/errors.ts';
import { optionNames } from '../core/options.ts';
import type { FrameCodec, FrameInput } from './codec.ts';
import { badFrame, frameTooLarge } from './codec-error.ts';
import { booleanOption, DEFAULT_MAX_FRAME_LENGTH, optionsRecord, positiveLengthOption } from './codec-options.ts';
import { FrameDecoder } from './frame-decoder.ts';
import { frameInputToBuffer } from './frame-input.ts';

/** Options of {@link createDelimiterCodec}. */
export interface DelimiterCodecOptions {
  /** The byte sequence that ends each frame; a string is taken as UTF-8. Required, not empty. */
  delimiter: Uint8Array | string;
  /**
   * Longest frame accepted, in bytes, not counting the delimiter. A longer frame fails with
   * `SWB_ERR_FRAME_TOO_LARGE` as soon as the pending bytes prove it, before its delimiter arrives.
   * @default 8388608 (8 MiB)
   */
  maxFrameLength?: number;
  /**
   * Whether decoded frames keep their delimiter at the end. The encoder always appends it.
   * @default false
   */
  includeDelimiter?: boolean;
}
const DELIMITER_CODEC_OPTIONS = optionNames<DelimiterCodecOptions>({ delimiter: true, maxFrameLength: true, includeDelimiter: true });

/**
 * Creates a codec for frames ended by `delimiter`; frames are Buffers.
 *
 * The encoder takes bytes (or a string, as UTF-8) and returns `[frame, delimiter]` without copying:
 * `delimiter` is one Buffer the codec made once and returns from every `encode`, so it must not be
 * modified (the decoder searches its own copy, which nothing returned from the codec aliases).
 *
 * A one-byte delimiter is searched for as a byte (`memchr`), a longer one as a byte sequence.
 *
 * **Errors.** Decoding fails with `SWB_ERR_FRAME_TOO_LARGE` for a frame over `maxFrameLength`, and
 * with `SWB_ERR_BAD_FRAME` at `finish()` when the stream ends inside a frame. Encoding fails with
 * `SWB_ERR_FRAME_TOO_LARGE` for a frame over `maxFrameLength`, and with `SWB_ERR_BAD_FRAME` for a
 * frame that contains the delimiter or whose end would run into it (`a` before the delimiter `aa`).
 *
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` when an option is outside its constraint.
 * @example
 * const codec = createDelimiterCodec({ delimiter: '\r\n\r\n', maxFrameLength: 16 * 1024 });
 * codec.decode(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r'), onHead); // nothing yet
 * codec.decode(Buffer.from('\n'), onHead); // 'GET / HTTP/1.1\r\nHost: a'
 */
export function createDelimiterCodec(options: DelimiterCodecOptions): FrameCodec<FrameInput, Buffer> {
  return new DelimiterCodec(options);
}

class DelimiterCodec extends FrameDecoder<FrameInput, Buffer> {
  readonly #delimiter: Buffer;
  /**
   * What `indexOf` searches for: the byte of a one-byte delimiter, as a number, or the delimiter.
   * Node answers a number with `memchr`, at about half the cost of a one-byte Buffer search.
   */
  readonly #needle: number | Buffer;
  /** The delimiter `encode` returns: its own Buffer, so a caller changing it cannot change decoding. */
  readonly #encodedDelimiter: Buffer;
  readonly #maxFrameLength: number;
  readonly #includeDelimiter: boolean;
  /** Shifts k (0 < k < delimiter length) at which the delimiter overlaps itself. */
  readonly #selfOverlaps: readonly number[];
  /** The last pending bytes, at most one fewer than the delimiter: where a split delimiter starts. */
  readonly #tail: Buffer;
  #tailLength: number;
  /** Scratch for the tail followed by the head of the next chunk. */
  readonly #probe: Buffer;
  /**
   * 1 for each byte that ends some proper prefix of the delimiter (`delimiter[0..length - 2]`):
   * a delimiter can begin in the pending bytes only if their last byte is one of these.
   */
  readonly #endsPrefix: Uint8Array;

  constructor(options: DelimiterCodecOptions) {
    super();
    const record = optionsRecord(options, DELIMITER_CODEC_OPTIONS);
    this.#delimiter = delimiterOption(record.delimiter);
    this.#needle = this.#delimiter.length === 1 ? this.#delimiter[0]! : this.#delimiter;
    this.#encodedDelimiter = Buffer.from(this.#delimiter);
    this.#maxFrameLength = positiveLengthOption(record, 'maxFrameLength', DEFAULT_MAX_FRAME_LENGTH);
    this.#includeDelimiter = booleanOption(record, 'includeDelimiter', false);
    this.#selfOverlaps = selfOverlapsOf(this.#delimiter);
    this.#tail = Buffer.alloc(this.#delimiter.length - 1);
    this.#tailLength = 0;
    this.#probe = Buffer.alloc(2 * (this.#delimiter.length - 1));
    this.#endsPrefix = new Uint8Array(256);
    for (const byte of this.#delimiter.subarray(0, -1)) this.#endsPrefix[byte] = 1;
  }

  encode(frame: FrameInput): Buffer[] {
    const bytes = frameInputToBuffer(frame);
    if (bytes.length > this.#maxFrameLength) throw this.#tooLong();
    // One scan of the frame; a one-byte delimiter cannot overlap itself, so `#selfOverlaps` is empty.
    if (bytes.indexOf(this.#needle) !== -1 || (this.#selfOverlaps.length > 0 && this.#runsIntoDelimiter(bytes))) {
      throw badFrame('cannot encode a frame that contains the delimiter');
    }
    return [bytes, this.#encodedDelimiter];
  }

  protected decodeFrames(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const needle = this.#needle;
    const delimiterLength = this.#delimiter.length;
    const kept = this.#includeDelimiter ? delimiterLength : 0;
    const max = this.#maxFrameLength;
    let start = 0;
    if (this.pending.length > 0) {
      start = this.#completePendingFrame(chunk, onFrame);
      if (start === -1) return;
    }
    let at: number;
    while ((at = chunk.indexOf(needle, start)) !== -1) {
      if (at - start > max) throw this.#tooLong();
      onFrame(chunk.subarray(start, at + kept));
      start = at + delimiterLength;
    }
    if (start < chunk.length) this.#hold(start === 0 ? chunk : chunk.subarray(start));
  }

  protected endOfStream(): void {
    throw badFrame(`stream ended inside a frame (${this.pending.length} bytes pending)`);
  }

  protected override resetState(): void {
    this.#tailLength = 0;
  }

  /** Ends the pending frame if `chunk` completes its delimiter; returns where the rest of `chunk` starts, or -1 when all of it was held. */
  #completePendingFrame(chunk: Buffer, onFrame: (frame: Buffer) => void): number {
    const delimiter = this.#delimiter;
    const pending = this.pending;
    const tailLength = this.#tailLength;
    if (tailLength > 0 && this.#endsPrefix[this.#tail[tailLength - 1]!] === 1) {
      // Only the tail and the chunk's first bytes can hold a delimiter that began in a previous chunk,
      // and only if the tail ends in part of one: most chunk boundaries fall inside a frame's body.
      const headLength = Math.min(delimiter.length - 1, chunk.length);
      this.#tail.copy(this.#probe, 0, 0, tailLength);
      chunk.copy(this.#probe, tailLength, 0, headLength);
      const at = this.#probe.subarray(0, tailLength + headLength).indexOf(delimiter);
      if (at !== -1 && at < tailLength) {
        if (pending.length - tailLength + at > this.#maxFrameLength) throw this.#tooLong();
        const end = at + delimiter.length - tailLength;
        this.#tailLength = 0;
        onFrame(this.#includeDelimiter ? pending.take(chunk, 0, chunk.length - end) : pending.take(undefined, 0, tailLength - at));
        return end;
      }
    }
    const at = chunk.indexOf(this.#needle);
    if (at === -1) {
      this.#hold(chunk);
      return -1;
    }
    if (pending.length + at > this.#maxFrameLength) throw this.#tooLong();
    this.#tailLength = 0;
    // The frame ends `at` (+ the delimiter) into the chunk: trim the rest of the chunk rather than cut a view of it.
    onFrame(pending.take(chunk, 0, chunk.length - at - (this.#includeDelimiter ? delimiter.length : 0)));
    return at + delimiter.length;
  }

  #hold(piece: Buffer): void {
    this.pending.push(piece);
    if (this.#tail.length > 0) this.#keepTail(piece);
    const length = this.pending.length;
    if (length > this.#maxFrameLength && length - this.#partialDelimiterLength() > this.#maxFrameLength) {
      throw this.#tooLong();
    }
  }

  #keepTail(piece: Buffer): void {
    const keep = this.#tail.length;
    if (piece.length >= keep) {
      piece.copy(this.#tail, 0, piece.length - keep);
      this.#tailLength = keep;
      return;
    }
    const drop = Math.max(0, this.#tailLength + piece.length - keep);
    this.#tail.copyWithin(0, drop, this.#tailLength);
    piece.copy(this.#tail, this.#tailLength - drop);
    this.#tailLength += piece.length - drop;
  }

  /** Length of the longest end of the pending bytes that could begin a delimiter. */
  #partialDelimiterLength(): number {
    for (let length = this.#tailLength; length > 0; length--) {
      if (this.#tail.compare(this.#delimiter, 0, length, this.#tailLength - length, this.#tailLength) === 0) return length;
    }
    return 0;
  }

  /** Whether the end of `frame` and the delimiter after it would contain an earlier delimiter. */
  #runsIntoDelimiter(frame: Buffer): boolean {
    const delimiter = this.#delimiter;
    const last = frame[frame.length - 1];
    for (const shift of this.#selfOverlaps) {
      // The last byte settles most shifts before a compare() call.
      if (shift <= frame.length && last === delimiter[shift - 1] && frame.compare(delimiter, 0, shift, frame.length - shift) === 0) {
        return true;
      }
    }
    return false;
  }

  #tooLong(): Error {
    return frameTooLarge(`frame longer than maxFrameLength (${this.#maxFrameLength} bytes)`);
  }
}

function delimiterOption(value: unknown): Buffer {
  if (typeof value === 'string' && value.length > 0) return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array && value.length > 0) return Buffer.from(value); // a copy the caller cannot change
  throw new InvalidOptionError('delimiter', 'must be a non-empty string or Uint8Array', value);
}

/** Every k with 0 < k < length where `delimiter[k..]` equals `delimiter[..length - k]`. */
function selfOverlapsOf(delimiter: Buffer): number[] {
  const shifts: number[] = [];
  for (let shift = 1; shift < delimiter.length; shift++) {
    if (delimiter.compare(delimiter, 0, delimiter.length - shift, shift) === 0) shifts.push(shift);
  }
  return shifts;
}
