/**
 * Decode throughput of the framing codecs (line; delimiter, with a one-byte and a four-byte
 * delimiter; length field; fixed length), in MB/s and frames/s, beside a naive decoder (one
 * `Buffer.concat` per chunk, the usual hand-written splitter) measured in the same run.
 * Frames of 64 B and 1 KiB arrive in 16 KiB chunks (frame-aligned) and in 1460-byte chunks
 * (one TCP segment; frames straddle chunks); 64-byte frames also arrive one per chunk, where
 * what a codec costs per `decode()` call — its failure guard — weighs most.
 * Pure CPU, no sockets; a few seconds in all.
 *
 *   node bench/codecs.ts [--quick] [--ms N] [--rounds N]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { createDelimiterCodec, createFixedLengthCodec, createLengthFieldCodec, createLineCodec } from '../src/codecs/index.ts';
import type { FrameCodec, FrameInput } from '../src/codecs/index.ts';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, ms: { type: 'string' }, rounds: { type: 'string' } },
});
const caseMs = values.ms === undefined ? (values.quick ? 40 : 70) : Number(values.ms);
const rounds = values.rounds === undefined ? (values.quick ? 1 : 3) : Number(values.rounds);
const STREAM_BYTES = 4 * 1024 * 1024;

/** A decoder under measurement: feed chunks, count frames. */
type Decoder = (chunk: Buffer, onFrame: (frame: unknown) => void) => void;

interface BenchCase {
  name: string;
  frameBytes: number;
  chunkBytes: number;
  /** The wire form of one frame of `frameBytes` bytes, index `i`. */
  wireFrame(i: number): Buffer;
  codec(): FrameCodec<FrameInput, unknown>;
  naive(): Decoder;
}

const lineFrame = (frameBytes: number) => (i: number): Buffer => {
  const line = Buffer.alloc(frameBytes, 0x61 + (i % 26));
  line[frameBytes - 1] = 0x0a;
  return line;
};

const delimitedFrame = (frameBytes: number, delimiter: Buffer) => (i: number): Buffer => {
  const frame = Buffer.alloc(frameBytes, 0x61 + (i % 26));
  delimiter.copy(frame, frameBytes - delimiter.length);
  return frame;
};

const LF = Buffer.from('\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');

const lengthFrame = (frameBytes: number) => (i: number): Buffer => {
  const frame = Buffer.alloc(frameBytes, i & 0xff);
  frame.writeUInt32BE(frameBytes - 4, 0);
  return frame;
};

const fixedFrame = (frameBytes: number) => (i: number): Buffer => Buffer.alloc(frameBytes, i & 0xff);

const cases: BenchCase[] = [];
for (const [frameBytes, chunkBytes] of [[64, 16 * 1024], [64, 1460], [64, 64], [1024, 16 * 1024], [1024, 1460]] as const) {
  cases.push(
    {
      name: 'line, strings',
      frameBytes,
      chunkBytes,
      wireFrame: lineFrame(frameBytes),
      codec: () => createLineCodec(),
      naive: () => naiveLines(true),
    },
    {
      name: 'line, Buffers',
      frameBytes,
      chunkBytes,
      wireFrame: lineFrame(frameBytes),
      codec: () => createLineCodec({ encoding: null }),
      naive: () => naiveLines(false),
    },
    {
      name: 'delimiter "\\n"',
      frameBytes,
      chunkBytes,
      wireFrame: delimitedFrame(frameBytes, LF),
      codec: () => createDelimiterCodec({ delimiter: LF }),
      naive: () => naiveDelimited(LF),
    },
    {
      name: 'delimiter CRLFCRLF',
      frameBytes,
      chunkBytes,
      wireFrame: delimitedFrame(frameBytes, CRLFCRLF),
      codec: () => createDelimiterCodec({ delimiter: CRLFCRLF }),
      naive: () => naiveDelimited(CRLFCRLF),
    },
    {
      name: 'length-field u32',
      frameBytes,
      chunkBytes,
      wireFrame: lengthFrame(frameBytes),
      codec: () => createLengthFieldCodec(),
      naive: () => naiveLengthField(),
    },
    {
      name: 'fixed-length',
      frameBytes,
      chunkBytes,
      wireFrame: fixedFrame(frameBytes),
      codec: () => createFixedLengthCodec({ frameLength: frameBytes }),
      naive: () => naiveFixedLength(frameBytes),
    },
  );
}
cases.push({
  name: 'length-field u32',
  frameBytes: 64 * 1024,
  chunkBytes: 1460,
  wireFrame: lengthFrame(64 * 1024),
  codec: () => createLengthFieldCodec(),
  naive: () => naiveLengthField(),
});

const cpus = os.cpus();
console.log(`node ${process.version} · ${cpus[0]?.model.trim() ?? 'unknown CPU'} (${cpus.length} cores) · ${os.type()} ${os.arch()}`);
console.log(`best of ${rounds} × ${caseMs} ms, codec and naive alternating; naive = Buffer.concat per chunk, then split (and no UTF-8 validation)\n`);
console.log(
  `${'codec'.padEnd(18)} ${'frame'.padStart(6)} ${'chunk'.padStart(7)}  ${'MB/s'.padStart(7)} ${'frames/s'.padStart(11)}  ${'naive MB/s'.padStart(10)}  ${'ratio'.padStart(5)}`,
);
for (const benchCase of cases) {
  const chunks = chunkStream(benchCase);
  const codec = benchCase.codec();
  const decodeWithCodec: Decoder = (chunk, onFrame) => codec.decode(chunk, onFrame);
  const naiveDecoder = benchCase.naive();
  let switchboard = { mbps: 0, framesPerSecond: 0 };
  let naive = { mbps: 0, framesPerSecond: 0 };
  // Alternate and keep each one's best round: other load on the machine only ever slows a round down.
  for (let round = 0; round < rounds; round++) {
    const codecRound = measure(chunks, decodeWithCodec, round === 0);
    const naiveRound = measure(chunks, naiveDecoder, round === 0);
    if (codecRound.mbps > switchboard.mbps) switchboard = codecRound;
    if (naiveRound.mbps > naive.mbps) naive = naiveRound;
  }
  console.log(
    `${benchCase.name.padEnd(18)} ${size(benchCase.frameBytes).padStart(6)} ${size(benchCase.chunkBytes).padStart(7)}  ${switchboard.mbps.toFixed(0).padStart(7)} ${format(switchboard.framesPerSecond).padStart(11)}  ${naive.mbps.toFixed(0).padStart(10)}  ${(switchboard.mbps / naive.mbps).toFixed(2).padStart(5)}`,
  );
}

/** About 4 MiB of whole frames, cut into chunks of `chunkBytes`. */
function chunkStream(benchCase: BenchCase): Buffer[] {
  const frames: Buffer[] = [];
  for (let total = 0, i = 0; total < STREAM_BYTES; total += benchCase.frameBytes, i++) frames.push(benchCase.wireFrame(i));
  const stream = Buffer.concat(frames);
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += benchCase.chunkBytes) {
    chunks.push(Buffer.from(stream.subarray(at, at + benchCase.chunkBytes))); // own memory, as from a socket
  }
  return chunks;
}

/** Decodes the chunks over and over for `caseMs`, after a warm-up of a quarter of that when asked. */
function measure(chunks: readonly Buffer[], decode: Decoder, warmUp: boolean): { mbps: number; framesPerSecond: number } {
  let frames = 0;
  const onFrame = (): void => void frames++;
  const pass = (): number => {
    for (const chunk of chunks) decode(chunk, onFrame);
    return chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  };
  const warmUntil = performance.now() + (warmUp ? caseMs / 4 : 0);
  while (performance.now() < warmUntil) pass();
  frames = 0;
  let bytes = 0;
  const started = performance.now();
  let elapsed = 0;
  do {
    bytes += pass();
    elapsed = performance.now() - started;
  } while (elapsed < caseMs);
  return { mbps: bytes / 1e6 / (elapsed / 1000), framesPerSecond: frames / (elapsed / 1000) };
}

function naiveLines(strings: boolean): Decoder {
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk, onFrame) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let start = 0;
    let end: number;
    while ((end = buffered.indexOf(0x0a, start)) !== -1) {
      const contentEnd = end > start && buffered[end - 1] === 0x0d ? end - 1 : end;
      onFrame(strings ? buffered.toString('utf8', start, contentEnd) : buffered.subarray(start, contentEnd));
      start = end + 1;
    }
    buffered = buffered.subarray(start);
  };
}

/** A hand-written splitter as one would write it: a number search for a one-byte delimiter. */
function naiveDelimited(delimiter: Buffer): Decoder {
  const needle: number | Buffer = delimiter.length === 1 ? delimiter[0]! : delimiter;
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk, onFrame) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let start = 0;
    let end: number;
    while ((end = buffered.indexOf(needle, start)) !== -1) {
      onFrame(buffered.subarray(start, end));
      start = end + delimiter.length;
    }
    buffered = buffered.subarray(start);
  };
}

function naiveLengthField(): Decoder {
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk, onFrame) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let start = 0;
    while (buffered.length - start >= 4) {
      const end = start + 4 + buffered.readUInt32BE(start);
      if (end > buffered.length) break;
      onFrame(buffered.subarray(start + 4, end));
      start = end;
    }
    buffered = buffered.subarray(start);
  };
}

function naiveFixedLength(frameLength: number): Decoder {
  let buffered: Buffer = Buffer.alloc(0);
  return (chunk, onFrame) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let start = 0;
    for (; buffered.length - start >= frameLength; start += frameLength) onFrame(buffered.subarray(start, start + frameLength));
    buffered = buffered.subarray(start);
  };
}

function size(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

function format(value: number): string {
  return value >= 1e6 ? `${(value / 1e6).toFixed(2)} M` : `${(value / 1e3).toFixed(0)} k`;
}
