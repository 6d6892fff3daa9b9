/**
 * Length-prefixed frames with the parameters of Netty's `LengthFieldBasedFrameDecoder` and
 * tokio-util's `LengthDelimitedCodec`: where the length field sits, how wide it is, its byte
 * order, what its value counts, and how much of the frame to strip.
 */
import { InvalidOptionError } from '../core/errors.ts';
import { optionNames } from '../core/options.ts';
import type { FrameCodec, FrameInput } from './codec.ts';
import { badFrame, frameTooLarge } from './codec-error.ts';
import {
  booleanOption,
  DEFAULT_MAX_FRAME_LENGTH,
  nonNegativeLengthOption,
  oneOfOption,
  optionsRecord,
  positiveLengthOption,
  safeIntegerOption,
} from './codec-options.ts';
import { FrameDecoder } from './frame-decoder.ts';
import { frameInputToBuffer } from './frame-input.ts';

/** Widths of a length field, in bytes. */
export type LengthFieldLength = 1 | 2 | 3 | 4 | 8;

/** Byte order of a length field. */
export type ByteOrder = 'big' | 'little';

/** Options of {@link createLengthFieldCodec}. The header is the bytes up to the end of the length field. */
export interface LengthFieldCodecOptions {
  /**
   * Width of the length field in bytes; 8-byte fields are read as BigInt and bounded before use.
   * @default 4
   */
  lengthFieldLength?: LengthFieldLength;
  /** @default 'big' */
  byteOrder?: ByteOrder;
  /**
   * Bytes before the length field (a type or version byte, say).
   * @default 0
   */
  lengthFieldOffset?: number;
  /**
   * Added to the field's value to give the number of bytes after the length field, when the
   * field counts more or less than that (Netty/tokio `lengthAdjustment`). May be negative.
   * @default 0
   */
  lengthAdjustment?: number;
  /**
   * Bytes removed from the start of each decoded frame. The default strips the header so frames
   * are payloads; `0` keeps the whole frame, header included.
   * @default lengthFieldOffset + lengthFieldLength
   */
  initialBytesToStrip?: number;
  /**
   * Longest frame accepted, in bytes, as emitted (after stripping). A longer frame fails with
   * `SWB_ERR_FRAME_TOO_LARGE` as soon as its length field arrives, before its payload.
   * @default 8388608 (8 MiB)
   */
  maxFrameLength?: number;
  /**
   * Whether the field's value counts the header too; shorthand for subtracting the header
   * length from `lengthAdjustment`.
   * @default false
   */
  lengthIncludesHeader?: boolean;
}
const LENGTH_FIELD_CODEC_OPTIONS = optionNames<LengthFieldCodecOptions>({
  lengthFieldLength: true,
  byteOrder: true,
  lengthFieldOffset: true,
  lengthAdjustment: true,
  initialBytesToStrip: true,
  maxFrameLength: true,
  lengthIncludesHeader: true,
});

/**
 * Creates a codec for length-prefixed frames; frames are Buffers.
 *
 * A frame occupies `value + lengthAdjustment + lengthFieldOffset + lengthFieldLength` bytes of the
 * stream, where `value` is the length field read as an unsigned integer; the codec emits it minus
 * its first `initialBytesToStrip` bytes.
 *
 * The encoder works in two set-ups. With the defaults' shape (`lengthFieldOffset` 0 and
 * `initialBytesToStrip` equal to `lengthFieldLength`) it takes the payload and returns
 * `[lengthField, payload]`, never copying the payload. With `initialBytesToStrip: 0` it takes a
 * whole frame, header included, and returns `[header, rest]` with the length field of a copied
 * header filled in. Other set-ups are decode-only.
 *
 * **Errors.** Decoding fails with `SWB_ERR_FRAME_TOO_LARGE` for a frame over `maxFrameLength`, and
 * with `SWB_ERR_BAD_FRAME` when the computed frame length is shorter than the header or than
 * `initialBytesToStrip`, is beyond `Number.MAX_SAFE_INTEGER` (an 8-byte field), or when the stream
 * ends inside a frame. Encoding fails with `SWB_ERR_FRAME_TOO_LARGE` for a frame over
 * `maxFrameLength` or one whose length does not fit the field, and with `SWB_ERR_BAD_FRAME` for
 * a frame too short for `lengthAdjustment` or its header.
 *
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` when an option is outside its constraint,
 * or from `encode()` in a decode-only set-up.
 * @example
 * // [u16 big-endian length][payload], as tokio's LengthDelimitedCodec with a 2-byte field.
 * const codec = createLengthFieldCodec({ lengthFieldLength: 2, maxFrameLength: 64 * 1024 });
 * codec.decode(Buffer.from([0x00, 0x03, 0x61, 0x62, 0x63]), (frame) => console.log(frame)); // <Buffer 61 62 63>
 * socket.cork();
 * for (const piece of [codec.encode(Buffer.from('abc'))].flat()) socket.write(piece);
 * socket.uncork();
 */
export function createLengthFieldCodec(options?: LengthFieldCodecOptions): FrameCodec<FrameInput, Buffer> {
  return new LengthFieldCodec(options);
}

const FIELD_LENGTHS: readonly LengthFieldLength[] = [1, 2, 3, 4, 8];
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

class LengthFieldCodec extends FrameDecoder<FrameInput, Buffer> {
  readonly #fieldLength: LengthFieldLength;
  readonly #littleEndian: boolean;
  readonly #fieldOffset: number;
  /** Header length: where the length field ends. */
  readonly #fieldEnd: number;
  /** `lengthAdjustment`, less the header length when `lengthIncludesHeader`. */
  readonly #adjustment: number;
  readonly #strip: number;
  readonly #maxFrameLength: number;
  /** Bounds of a valid stream length, so the common case costs two comparisons. */
  readonly #minStreamLength: number;
  readonly #maxStreamLength: number;
  /** Reads the length field at an offset; chosen once, so the per-frame call stays monomorphic. */
  readonly #readField: (buffer: Buffer, at: number) => number;
  /** Scratch for a length field split across chunks. */
  readonly #field: Buffer;
  /** Stream length of the frame being assembled, or -1 while its length field is incomplete. */
  #frameLength: number;

  constructor(options: LengthFieldCodecOptions | undefined) {
    super();
    const record = optionsRecord(options, LENGTH_FIELD_CODEC_OPTIONS);
    this.#fieldLength = oneOfOption(record, 'lengthFieldLength', FIELD_LENGTHS, 4);
    this.#littleEndian = oneOfOption<ByteOrder>(record, 'byteOrder', ['big', 'little'], 'big') === 'little';
    this.#fieldOffset = nonNegativeLengthOption(record, 'lengthFieldOffset', 0);
    this.#fieldEnd = this.#fieldOffset + this.#fieldLength;
    const includesHeader = booleanOption(record, 'lengthIncludesHeader', false);
    this.#adjustment = safeIntegerOption(record, 'lengthAdjustment', 0) - (includesHeader ? this.#fieldEnd : 0);
    this.#strip = nonNegativeLengthOption(record, 'initialBytesToStrip', this.#fieldEnd);
    this.#maxFrameLength = positiveLengthOption(record, 'maxFrameLength', DEFAULT_MAX_FRAME_LENGTH);
    this.#minStreamLength = Math.max(this.#fieldEnd, this.#strip);
    this.#maxStreamLength = Math.min(this.#maxFrameLength + this.#strip, Number.MAX_SAFE_INTEGER);
    this.#readField = fieldReader(this.#fieldLength, this.#littleEndian);
    this.#field = Buffer.alloc(this.#fieldLength);
    this.#frameLength = -1;
  }

  encode(frame: FrameInput): Buffer[] {
    if (this.#strip !== 0 && (this.#strip !== this.#fieldEnd || this.#fieldOffset !== 0)) {
      throw new InvalidOptionError(
        'initialBytesToStrip',
        `must be 0, or ${this.#fieldLength} with lengthFieldOffset 0, for encode()`,
        this.#strip,
      );
    }
    const bytes = frameInputToBuffer(frame);
    if (bytes.length > this.#maxFrameLength) {
      throw frameTooLarge(`frame of ${bytes.length} bytes exceeds maxFrameLength (${this.#maxFrameLength} bytes)`);
    }
    if (this.#strip === 0) return this.#encodeWholeFrame(bytes);
    const header = Buffer.allocUnsafe(this.#fieldLength);
    this.#writeField(header, this.#fieldValueFor(bytes.length + this.#strip));
    return [header, bytes];
  }

  protected decodeFrames(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const pending = this.pending;
    const fieldEnd = this.#fieldEnd;
    let start = 0;
    if (pending.length > 0) {
      if (this.#frameLength === -1) {
        if (pending.length + chunk.length < fieldEnd) {
          pending.push(chunk);
          return;
        }
        pending.copyTo(this.#field, this.#fieldOffset, fieldEnd, chunk);
        this.#frameLength = this.#frameLengthFor(this.#readField(this.#field, 0));
      }
      const needed = this.#frameLength - pending.length;
      if (chunk.length < needed) {
        pending.push(chunk);
        return;
      }
      this.#frameLength = -1;
      onFrame(pending.take(chunk, this.#strip, chunk.length - needed));
      start = needed;
    }
    // The per-frame loop reads only locals.
    const readField = this.#readField;
    const fieldOffset = this.#fieldOffset;
    const strip = this.#strip;
    const overhead = this.#adjustment + fieldEnd;
    const minStreamLength = this.#minStreamLength;
    const maxStreamLength = this.#maxStreamLength;
    const length = chunk.length;
    while (length - start >= fieldEnd) {
      const value = readField(chunk, start + fieldOffset);
      const frameLength = value + overhead;
      if (frameLength < minStreamLength || frameLength > maxStreamLength) this.#rejectFrameLength(value, frameLength);
      const end = start + frameLength;
      if (end > length) {
        this.#frameLength = frameLength;
        break;
      }
      onFrame(chunk.subarray(start + strip, end));
      start = end;
    }
    if (start < chunk.length) pending.push(start === 0 ? chunk : chunk.subarray(start));
  }

  protected endOfStream(): void {
    const expected = this.#frameLength === -1 ? `${this.#fieldEnd} header bytes` : `${this.#frameLength} bytes`;
    throw badFrame(`stream ended inside a frame (${this.pending.length} of ${expected})`);
  }

  protected override resetState(): void {
    this.#frameLength = -1;
  }

  /** The stream length of a frame whose field reads `value`, after every bound is checked. */
  #frameLengthFor(value: number): number {
    const frameLength = value + this.#adjustment + this.#fieldEnd;
    if (frameLength >= this.#minStreamLength && frameLength <= this.#maxStreamLength) return frameLength;
    return this.#rejectFrameLength(value, frameLength);
  }

  /** @throws {CodecError} the error for a frame length outside its bounds. */
  #rejectFrameLength(value: number, frameLength: number): never {
    if (!Number.isSafeInteger(frameLength)) {
      throw badFrame(`length field overflows: the frame length is beyond ${Number.MAX_SAFE_INTEGER} bytes`);
    }
    if (frameLength < this.#fieldEnd) {
      throw badFrame(
        `length field ${value} with lengthAdjustment ${this.#adjustment} gives a ${frameLength}-byte frame, shorter than its ${this.#fieldEnd}-byte header`,
      );
    }
    if (frameLength < this.#strip) {
      throw badFrame(
        `length field ${value} gives a ${frameLength}-byte frame, shorter than initialBytesToStrip (${this.#strip})`,
      );
    }
    throw frameTooLarge(
      `frame of ${frameLength - this.#strip} bytes exceeds maxFrameLength (${this.#maxFrameLength} bytes)`,
    );
  }

  #writeField(header: Buffer, value: number): void {
    const at = this.#fieldOffset;
    const little = this.#littleEndian;
    switch (this.#fieldLength) {
      case 1:
        header[at] = value;
        return;
      case 2:
        if (little) header.writeUInt16LE(value, at);
        else header.writeUInt16BE(value, at);
        return;
      case 3:
        if (little) header.writeUIntLE(value, at, 3);
        else header.writeUIntBE(value, at, 3);
        return;
      case 4:
        if (little) header.writeUInt32LE(value, at);
        else header.writeUInt32BE(value, at);
        return;
      case 8:
        if (little) header.writeBigUInt64LE(BigInt(value), at);
        else header.writeBigUInt64BE(BigInt(value), at);
        return;
    }
  }

  /** The field value that makes a frame `frameLength` bytes long on the stream. */
  #fieldValueFor(frameLength: number): number {
    const value = frameLength - this.#fieldEnd - this.#adjustment;
    if (value < 0) {
      throw badFrame(`cannot encode a ${frameLength}-byte frame: lengthAdjustment ${this.#adjustment} makes its length field negative`);
    }
    if (this.#fieldLength < 8 && value >= 2 ** (8 * this.#fieldLength)) {
      throw frameTooLarge(`cannot encode a ${frameLength}-byte frame: length ${value} does not fit a ${this.#fieldLength}-byte field`);
    }
    return value;
  }

  #encodeWholeFrame(frame: Buffer): Buffer[] {
    if (frame.length < this.#fieldEnd) {
      throw badFrame(`cannot encode a ${frame.length}-byte frame: shorter than its ${this.#fieldEnd}-byte header`);
    }
    const header = Buffer.allocUnsafe(this.#fieldEnd);
    frame.copy(header, 0, 0, this.#fieldEnd);
    this.#writeField(header, this.#fieldValueFor(frame.length));
    return [header, frame.subarray(this.#fieldEnd)];
  }
}

/** A reader of a `length`-byte unsigned field; an 8-byte value beyond 2^53 - 1 reads as Infinity, which no frame can be. */
function fieldReader(length: LengthFieldLength, littleEndian: boolean): (buffer: Buffer, at: number) => number {
  switch (length) {
    case 1:
      return (buffer, at) => buffer[at]!;
    case 2:
      return littleEndian ? (buffer, at) => buffer.readUInt16LE(at) : (buffer, at) => buffer.readUInt16BE(at);
    case 3:
      return littleEndian ? (buffer, at) => buffer.readUIntLE(at, 3) : (buffer, at) => buffer.readUIntBE(at, 3);
    case 4:
      return littleEndian ? (buffer, at) => buffer.readUInt32LE(at) : (buffer, at) => buffer.readUInt32BE(at);
    case 8:
      return (buffer, at) => {
        const value = littleEndian ? buffer.readBigUInt64LE(at) : buffer.readBigUInt64BE(at);
        return value > MAX_SAFE_BIGINT ? Infinity : Number(value);
      };
  }
}
