/**
 * Newline-delimited text frames (tokio-util `LinesCodec`, Netty `LineBasedFrameDecoder`):
 * a line ends at LF, a CR just before the LF is dropped, a CR anywhere else is kept.
 */
import { isUtf8 } from 'node:buffer';
import type { FrameCodec, FrameInput } from './codec.ts';
import { badFrame, frameTooLarge } from './codec-error.ts';
import {
  booleanOption,
  DEFAULT_MAX_LINE_LENGTH,
  oneOfOption,
  optionsRecord,
  positiveLengthOption,
} from './codec-options.ts';
import { optionNames } from '../core/options.ts';
import { FrameDecoder } from './frame-decoder.ts';
import { frameInputToBuffer } from './frame-input.ts';

const LF = 0x0a;
const CR = 0x0d;

/** Text encodings a line codec can decode: ASCII-compatible, so a byte 0x0A is always a line feed. */
export type LineEncoding = 'utf8' | 'latin1' | 'ascii';

const LINE_ENCODINGS: readonly (LineEncoding | null)[] = ['utf8', 'latin1', 'ascii', null];
const LINE_CODEC_OPTIONS = optionNames<LineCodecOptions>({ maxLineLength: true, encoding: true, newline: true, allowUnterminatedLine: true });

/** Options of {@link createLineCodec}. */
export interface LineCodecOptions {
  /**
   * Longest line accepted, in bytes, not counting the LF or CRLF. A longer line fails with
   * `SWB_ERR_FRAME_TOO_LARGE` as soon as more bytes than this are pending, before its end arrives.
   * @default 8192
   */
  maxLineLength?: number;
  /**
   * How lines are decoded: a string in this encoding, or `null` for the raw bytes as a Buffer.
   * With `'utf8'`, a line that is not valid UTF-8 fails with `SWB_ERR_BAD_FRAME`.
   * @default 'utf8'
   */
  encoding?: LineEncoding | null;
  /**
   * What the encoder appends to each line. The decoder accepts both.
   * @default '\n'
   */
  newline?: '\n' | '\r\n';
  /**
   * Whether `finish()` emits a last line that has no line ending (dropping a final CR) instead of
   * failing with `SWB_ERR_BAD_FRAME`.
   * @default false
   */
  allowUnterminatedLine?: boolean;
}

/**
 * Creates a codec for lines ended by LF or CRLF: strings by default, Buffers with `encoding: null`.
 *
 * The encoder takes a string (in the codec's encoding, UTF-8 when `encoding` is `null`) or bytes
 * and appends `newline`.
 *
 * **Errors.** Decoding fails with `SWB_ERR_FRAME_TOO_LARGE` for a line over `maxLineLength`, with
 * `SWB_ERR_BAD_FRAME` for a line that is not valid UTF-8 (`encoding: 'utf8'`) or a stream that ends
 * inside a line. Encoding fails the same way for a line the decoder would reject, and with
 * `SWB_ERR_BAD_FRAME` for a line containing LF or ending in CR, which would not decode to itself.
 *
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` when an option is outside its constraint.
 * @example
 * const codec = createLineCodec({ maxLineLength: 1024 });
 * codec.decode(Buffer.from('HELLO alice\r\nPIN'), (line) => console.log(line)); // HELLO alice
 * codec.decode(Buffer.from('G\n'), (line) => console.log(line)); // PING
 * socket.write(codec.encode('PONG')); // <Buffer 50 4f 4e 47 0a>
 */
export function createLineCodec(options: LineCodecOptions & { encoding: null }): FrameCodec<FrameInput, Buffer>;
export function createLineCodec(options?: LineCodecOptions & { encoding?: LineEncoding }): FrameCodec<FrameInput, string>;
export function createLineCodec(options: LineCodecOptions): FrameCodec<FrameInput, string | Buffer>;
export function createLineCodec(options?: LineCodecOptions): FrameCodec<FrameInput, string | Buffer> {
  return new LineCodec(options);
}

class LineCodec extends FrameDecoder<FrameInput, string | Buffer> {
  readonly #maxLineLength: number;
  readonly #encoding: LineEncoding | null;
  /** What `encode` appends to bytes: made once, returned from every `encode`, never modified. */
  readonly #newline: Buffer;
  readonly #newlineText: '\n' | '\r\n';
  readonly #allowUnterminatedLine: boolean;

  constructor(options: LineCodecOptions | undefined) {
    super();
    const record = optionsRecord(options, LINE_CODEC_OPTIONS);
    this.#maxLineLength = positiveLengthOption(record, 'maxLineLength', DEFAULT_MAX_LINE_LENGTH);
    this.#encoding = oneOfOption(record, 'encoding', LINE_ENCODINGS, 'utf8');
    this.#newlineText = oneOfOption(record, 'newline', ['\n', '\r\n'] as const, '\n');
    this.#newline = Buffer.from(this.#newlineText, 'latin1');
    this.#allowUnterminatedLine = booleanOption(record, 'allowUnterminatedLine', false);
  }

  encode(frame: FrameInput): Buffer | Buffer[] {
    if (typeof frame === 'string') {
      // A string is encoded anyway: encoding it with its newline makes one Buffer, one write.
      const bytes = Buffer.from(frame + this.#newlineText, this.#encoding ?? 'utf8');
      this.#assertEncodable(bytes, bytes.length - this.#newline.length, true);
      return bytes;
    }
    const line = frameInputToBuffer(frame);
    this.#assertEncodable(line, line.length, false);
    return [line, this.#newline];
  }

  protected decodeFrames(chunk: Buffer, onFrame: (frame: string | Buffer) => void): void {
    const pending = this.pending;
    const max = this.#maxLineLength;
    let start = 0;
    if (pending.length > 0) {
      const end = chunk.indexOf(LF);
      if (end === -1) {
        pending.push(chunk);
        this.#assertPendingWithinMax();
        return;
      }
      const trim = (end > 0 ? chunk[end - 1] : pending.lastByte()) === CR ? 1 : 0;
      if (pending.length + end - trim > max) throw this.#tooLong();
      // The line ends `end` into the chunk: trim the rest of the chunk rather than cut a view of it.
      onFrame(this.#toFrame(pending.take(chunk, 0, chunk.length - end + trim)));
      start = end + 1;
    }
    const encoding = this.#encoding;
    let end: number;
    while ((end = chunk.indexOf(LF, start)) !== -1) {
      const contentEnd = end > start && chunk[end - 1] === CR ? end - 1 : end;
      if (contentEnd - start > max) throw this.#tooLong();
      if (encoding === null) {
        onFrame(chunk.subarray(start, contentEnd));
      } else {
        const line = chunk.toString(encoding, start, contentEnd);
        if (encoding === 'utf8' && !isValidUtf8Line(line, chunk, start, contentEnd)) throw notUtf8();
        onFrame(line);
      }
      start = end + 1;
    }
    if (start < chunk.length) {
      pending.push(start === 0 ? chunk : chunk.subarray(start));
      this.#assertPendingWithinMax();
    }
  }

  protected endOfStream(onFrame: (frame: string | Buffer) => void): void {
    const pending = this.pending;
    if (!this.#allowUnterminatedLine) throw badFrame(`stream ended inside a line (${pending.length} bytes pending)`);
    // A CR at end of stream is most likely half of a CRLF, as tokio-util's LinesCodec reads it.
    onFrame(this.#toFrame(pending.take(undefined, 0, pending.lastByte() === CR ? 1 : 0)));
  }

  /** Fails as soon as the pending line is over the limit, allowing one CR that may begin a CRLF. */
  #assertPendingWithinMax(): void {
    const pending = this.pending;
    if (pending.length > this.#maxLineLength && pending.length - (pending.lastByte() === CR ? 1 : 0) > this.#maxLineLength) {
      throw this.#tooLong();
    }
  }

  #toFrame(bytes: Buffer): string | Buffer {
    if (this.#encoding === null) return bytes;
    const line = bytes.toString(this.#encoding);
    if (this.#encoding === 'utf8' && !isValidUtf8Line(line, bytes, 0, bytes.length)) throw notUtf8();
    return line;
  }

  /**
   * Checks the line `bytes[0, end)`: `bytes` is the line alone, or (from a string) the line and
   * then its newline, whose LF is at `bytes.length - 1` -- so a line without LF is one whose
   * first LF is there. One `indexOf` either way, and no view cut to check it.
   */
  #assertEncodable(bytes: Buffer, end: number, fromString: boolean): void {
    if (end > this.#maxLineLength) throw this.#tooLong();
    const lf = bytes.indexOf(LF);
    if (lf !== -1 && lf < end) throw badFrame('cannot encode a line that contains a line feed');
    if (end > 0 && bytes[end - 1] === CR) {
      throw badFrame('cannot encode a line that ends in a carriage return (it would be read as CRLF)');
    }
    // A string encoded as UTF-8 is always valid; bytes given as they are may not be.
    if (!fromString && this.#encoding === 'utf8' && !isUtf8(bytes)) throw badFrame('cannot encode a line that is not valid UTF-8');
  }

  #tooLong(): Error {
    return frameTooLarge(`line longer than maxLineLength (${this.#maxLineLength} bytes)`);
  }
}

/**
 * Whether `bytes[start, end)`, already decoded to `line`, was valid UTF-8. The decoder turns
 * every invalid sequence into U+FFFD, so a line without one is valid -- and V8 answers that at
 * once for a one-byte (Latin-1) string; only a line containing U+FFFD is validated again.
 */
function isValidUtf8Line(line: string, bytes: Buffer, start: number, end: number): boolean {
  return !line.includes('\uFFFD') || isUtf8(bytes.subarray(start, end));
}

function notUtf8(): Error {
  return badFrame('line is not valid UTF-8');
}
