/**
 * Reference models for the fuzzer: deliberately naive decoders over a whole stream (BigInt
 * arithmetic, no chunking, no early detection) whose results the real codecs must match
 * however the stream is split.
 */
import { isUtf8 } from 'node:buffer';
import type { CodecErrorCode, FrameCodec, FrameInput, LengthFieldLength } from '../../src/codecs/index.ts';
import {
  createDelimiterCodec,
  createFixedLengthCodec,
  createLengthFieldCodec,
  createLineCodec,
} from '../../src/codecs/index.ts';
import type { SeededRandom } from '../helpers/seeded-random.ts';

const TOO_LARGE = 'SWB_ERR_FRAME_TOO_LARGE';
const BAD = 'SWB_ERR_BAD_FRAME';

/** A decoded frame: a line codec may emit strings. */
export type Frame = string | Buffer;

/** What decoding a whole stream and then finishing must give. */
export interface ModelResult {
  /** Frames emitted by decode() and finish(), in order. */
  frames: Frame[];
  /** The error decode() must raise (before finish), or null. */
  decodeError: CodecErrorCode | null;
  /** When decode() succeeds: pendingBytes before finish(). */
  pending: number;
  /** When decode() succeeds: the error finish() must raise, or null. */
  finishError: CodecErrorCode | null;
}

/** A randomly configured codec together with its model. */
export interface FuzzTarget {
  family: CodecFamily;
  /** The options, for failure reports. */
  options: Record<string, unknown>;
  create(): FrameCodec<FrameInput, Frame>;
  /** Bytes that matter to this codec (terminators, length values), to bias random input. */
  alphabet: readonly number[];
  /** Frames that decode to themselves (or, with `error`, that encode() must refuse). */
  randomFrame(random: SeededRandom): { frame: FrameInput; error: CodecErrorCode | null; decoded: Frame };
  /** When encode() is unusable for this set-up: one valid wire frame and what it decodes to. */
  randomWireFrame?(random: SeededRandom): { wire: Buffer; decoded: Frame } | undefined;
  model(stream: Buffer): ModelResult;
}

/** The codec families the fuzzer draws from. */
export type CodecFamily = 'line' | 'delimiter' | 'length-field' | 'fixed-length';

/** Every codec family. */
export const CODEC_FAMILIES: readonly CodecFamily[] = ['line', 'delimiter', 'length-field', 'fixed-length'];

/** A codec of `family` with random options. */
export function randomTarget(family: CodecFamily, random: SeededRandom): FuzzTarget {
  switch (family) {
    case 'line':
      return lineTarget(random);
    case 'delimiter':
      return delimiterTarget(random);
    case 'length-field':
      return lengthFieldTarget(random);
    case 'fixed-length':
      return fixedLengthTarget(random);
  }
}

function outcome(frames: Frame[], decodeError: CodecErrorCode | null, pending = 0, finishError: CodecErrorCode | null = null): ModelResult {
  return { frames, decodeError, pending, finishError };
}

function randomBytesFrom(random: SeededRandom, alphabet: readonly number[], length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = random.below(4) === 0 ? random.below(256) : random.pick(alphabet);
  return out;
}

function lineTarget(random: SeededRandom): FuzzTarget {
  const maxLineLength = random.below(5) === 0 ? 8192 : random.between(1, 24);
  const encoding = random.pick(['utf8', 'latin1', null] as const);
  const newline = random.pick(['\n', '\r\n'] as const);
  const allowUnterminatedLine = random.below(2) === 0;
  const options = { maxLineLength, encoding, newline, allowUnterminatedLine };
  const toFrame = (bytes: Buffer): Frame => (encoding === null ? Buffer.from(bytes) : bytes.toString(encoding));
  const valid = (bytes: Buffer): boolean => encoding !== 'utf8' || isUtf8(bytes);
  const characters = ['a', 'Z', ' ', '\t', '\r', '\n', '\u00e9', '\u20ac', '\u{1f600}', '\u0000', '\u00ff'];
  return {
    family: 'line',
    options,
    create: () => createLineCodec(options),
    alphabet: [0x0a, 0x0d, 0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xff, 0x80, 0xef, 0xbf, 0xbd, 0xed, 0xa0, 0xc0, 0xf0, 0x90, 0xf4],
    randomFrame(random) {
      const length = random.between(0, Math.min(maxLineLength + 2, 30));
      let frame: FrameInput;
      if (random.below(3) === 0) {
        frame = randomBytesFrom(random, this.alphabet, length);
      } else {
        frame = Array.from({ length }, () => (random.below(12) === 0 ? random.pick(characters) : random.pick(characters.slice(0, 4)))).join('');
        if (encoding === 'latin1') frame = frame.replace(/[^\u0000-\u00ff]/gu, 'x');
      }
      const bytes = typeof frame === 'string' ? Buffer.from(frame, encoding ?? 'utf8') : Buffer.from(frame);
      let error: CodecErrorCode | null = null;
      if (bytes.length > maxLineLength) error = TOO_LARGE;
      else if (bytes.includes(0x0a) || bytes.at(-1) === 0x0d || !valid(bytes)) error = BAD;
      return { frame, error, decoded: toFrame(bytes) };
    },
    model(stream) {
      const frames: Frame[] = [];
      let position = 0;
      for (let end = stream.indexOf(0x0a); end !== -1; end = stream.indexOf(0x0a, position)) {
        const line = stream.subarray(position, end > position && stream[end - 1] === 0x0d ? end - 1 : end);
        if (line.length > maxLineLength) return outcome(frames, TOO_LARGE);
        if (!valid(line)) return outcome(frames, BAD);
        frames.push(toFrame(line));
        position = end + 1;
      }
      const rest = stream.subarray(position);
      if (rest.length === 0) return outcome(frames, null);
      const line = rest.at(-1) === 0x0d ? rest.subarray(0, -1) : rest;
      if (line.length > maxLineLength) return outcome(frames, TOO_LARGE);
      if (!allowUnterminatedLine) return outcome(frames, null, rest.length, BAD);
      if (!valid(line)) return outcome(frames, null, rest.length, BAD);
      return outcome([...frames, toFrame(line)], null, rest.length);
    },
  };
}

function delimiterTarget(random: SeededRandom): FuzzTarget {
  const delimiterAlphabet = [0x00, 0x0a, 0x0d, 0x61, 0x62];
  const delimiter = randomBytesFrom(random, delimiterAlphabet, random.between(1, 4));
  const maxFrameLength = random.below(5) === 0 ? 4096 : random.between(1, 24);
  const includeDelimiter = random.below(2) === 0;
  const options = { delimiter, maxFrameLength, includeDelimiter };
  const emitted = (frame: Buffer): Buffer => Buffer.concat(includeDelimiter ? [frame, delimiter] : [frame]);
  return {
    family: 'delimiter',
    options,
    create: () => createDelimiterCodec(options),
    alphabet: [...delimiterAlphabet, ...delimiter],
    randomFrame(random) {
      const frame = randomBytesFrom(random, this.alphabet, random.between(0, Math.min(maxFrameLength + 2, 30)));
      let error: CodecErrorCode | null = null;
      if (frame.length > maxFrameLength) error = TOO_LARGE;
      else if (Buffer.concat([frame, delimiter]).indexOf(delimiter) !== frame.length) error = BAD;
      return { frame, error, decoded: emitted(frame) };
    },
    model(stream) {
      const frames: Frame[] = [];
      let position = 0;
      for (let at = stream.indexOf(delimiter); at !== -1; at = stream.indexOf(delimiter, position)) {
        if (at - position > maxFrameLength) return outcome(frames, TOO_LARGE);
        frames.push(emitted(stream.subarray(position, at)));
        position = at + delimiter.length;
      }
      const rest = stream.subarray(position);
      if (rest.length === 0) return outcome(frames, null);
      let partial = Math.min(delimiter.length - 1, rest.length);
      while (partial > 0 && !rest.subarray(rest.length - partial).equals(delimiter.subarray(0, partial))) partial--;
      if (rest.length - partial > maxFrameLength) return outcome(frames, TOO_LARGE);
      return outcome(frames, null, rest.length, BAD);
    },
  };
}

function lengthFieldTarget(random: SeededRandom): FuzzTarget {
  const lengthFieldLength = random.pick([1, 2, 3, 4, 8] as const satisfies readonly LengthFieldLength[]);
  const byteOrder = random.pick(['big', 'little'] as const);
  const lengthFieldOffset = random.below(3) === 0 ? random.between(1, 3) : 0;
  const headerLength = lengthFieldOffset + lengthFieldLength;
  const lengthAdjustment = random.below(3) === 0 ? random.between(-12, 12) : 0;
  const lengthIncludesHeader = random.below(4) === 0;
  const strip = random.pick([headerLength, headerLength, 0, random.between(0, headerLength + 3)]);
  const maxFrameLength = random.below(5) === 0 ? 70000 : random.between(1, 40);
  const options = {
    lengthFieldLength,
    byteOrder,
    lengthFieldOffset,
    lengthAdjustment,
    lengthIncludesHeader,
    initialBytesToStrip: strip,
    maxFrameLength,
  };
  const adjustment = BigInt(lengthAdjustment - (lengthIncludesHeader ? headerLength : 0));
  const fieldLimit = 1n << BigInt(8 * lengthFieldLength);
  const readField = (stream: Buffer, at: number): bigint => {
    let value = 0n;
    for (let i = 0; i < lengthFieldLength; i++) {
      const byte = stream[at + (byteOrder === 'big' ? i : lengthFieldLength - 1 - i)]!;
      value = (value << 8n) | BigInt(byte);
    }
    return value;
  };
  const writeField = (wire: Buffer, value: bigint): void => {
    for (let i = 0; i < lengthFieldLength; i++) {
      const byte = Number((value >> BigInt(8 * i)) & 0xffn);
      wire[lengthFieldOffset + (byteOrder === 'big' ? lengthFieldLength - 1 - i : i)] = byte;
    }
  };
  const encodable = strip === 0 || (strip === headerLength && lengthFieldOffset === 0);
  const target: FuzzTarget = {
    family: 'length-field',
    options,
    create: () => createLengthFieldCodec(options),
    alphabet: [0x00, 0x01, 0x02, 0x03, 0x05, 0x08, 0x10, 0xff, 0x7f, 0x80],
    randomFrame(random) {
      const frame = randomBytesFrom(random, this.alphabet, random.between(0, Math.min(maxFrameLength + 2, 40)));
      const streamLength = BigInt(frame.length + (strip === 0 ? 0 : headerLength));
      const value = streamLength - BigInt(headerLength) - adjustment;
      let error: CodecErrorCode | null = null;
      if (frame.length > maxFrameLength) error = TOO_LARGE;
      else if (streamLength < BigInt(headerLength) || value < 0n) error = BAD;
      else if (value >= fieldLimit) error = TOO_LARGE;
      const decoded = Buffer.from(frame);
      if (strip === 0 && error === null) writeField(decoded, value);
      return { frame, error, decoded };
    },
    model(stream) {
      const frames: Frame[] = [];
      let position = 0;
      while (stream.length - position >= headerLength) {
        const total = readField(stream, position + lengthFieldOffset) + adjustment + BigInt(headerLength);
        if (total > BigInt(Number.MAX_SAFE_INTEGER)) return outcome(frames, BAD);
        if (total < BigInt(headerLength) || total < BigInt(strip)) return outcome(frames, BAD);
        if (total - BigInt(strip) > BigInt(maxFrameLength)) return outcome(frames, TOO_LARGE);
        const end = position + Number(total);
        if (end > stream.length) break;
        frames.push(Buffer.from(stream.subarray(position + strip, end)));
        position = end;
      }
      const rest = stream.length - position;
      return outcome(frames, null, rest, rest > 0 ? BAD : null);
    },
  };
  if (!encodable) {
    target.randomWireFrame = (random) => {
      // Stream lengths whose field value fits the field and whose emitted frame fits maxFrameLength.
      const low = Math.max(headerLength, strip, headerLength + Number(adjustment));
      const high = Math.min(strip + maxFrameLength, low + 30, headerLength + Number(adjustment + fieldLimit) - 1);
      if (low > high) return undefined;
      const streamLength = random.between(low, high);
      const wire = randomBytesFrom(random, target.alphabet, streamLength);
      writeField(wire, BigInt(streamLength - headerLength) - adjustment);
      return { wire, decoded: Buffer.from(wire.subarray(strip)) };
    };
  }
  return target;
}

function fixedLengthTarget(random: SeededRandom): FuzzTarget {
  const frameLength = random.between(1, 16);
  const options = { frameLength };
  return {
    family: 'fixed-length',
    options,
    create: () => createFixedLengthCodec(options),
    alphabet: [0x00, 0xff],
    randomFrame(random) {
      const frame = random.bytes(random.below(4) === 0 ? random.between(0, frameLength + 2) : frameLength);
      const error = frame.length > frameLength ? TOO_LARGE : frame.length < frameLength ? BAD : null;
      return { frame, error, decoded: Buffer.from(frame) };
    },
    model(stream) {
      const frames: Frame[] = [];
      let position = 0;
      for (; position + frameLength <= stream.length; position += frameLength) {
        frames.push(Buffer.from(stream.subarray(position, position + frameLength)));
      }
      const rest = stream.length - position;
      return outcome(frames, null, rest, rest > 0 ? BAD : null);
    },
  };
}
