/**
 * The codec fuzzer shared by `fuzz.test.ts` (a bounded run inside `npm test`) and `fuzz.ts`
 * (`npm run fuzz`, a million cases or more). Each case draws a codec with random options and
 * either round-trips random frames or decodes random and mutated bytes, split at random, checking
 * the result against a naive model. Only CodecErrors may escape a codec.
 */
import { CodecError } from '../../src/codecs/index.ts';
import { fuzzReplayCommand } from '../helpers/fuzz-runner.ts';
import type { CodecErrorCode, FrameCodec, FrameInput } from '../../src/codecs/index.ts';
import { CODEC_FAMILIES, randomTarget } from './fuzz-models.ts';
import type { CodecFamily, Frame, FuzzTarget, ModelResult } from './fuzz-models.ts';
import { createSeededRandom, splitRandomly } from '../helpers/seeded-random.ts';
import type { SeededRandom } from '../helpers/seeded-random.ts';

/** What to run. */
export interface FuzzOptions {
  /** Number of cases. */
  cases: number;
  /** Seed of the whole run; case `i` is replayable alone from `seed` and `i`. */
  seed: number;
  /** Index of the first case. @default 0 */
  firstCase?: number;
  /** Families to draw from, in turn. @default every family */
  families?: readonly CodecFamily[];
  /** Failures to collect before stopping. @default 10 */
  maxFailures?: number;
}

/** One failed case, with what is needed to replay it. */
export interface FuzzFailure {
  caseIndex: number;
  family: CodecFamily;
  options: Record<string, unknown>;
  message: string;
  /** The stream, hex-encoded, and how it was split. */
  stream: string;
  pieces: number[];
}

/** Counts for one codec family. */
export interface FamilySummary {
  cases: number;
  frames: number;
  errors: Record<string, number>;
}

/** The outcome of a run. */
export interface FuzzSummary {
  seed: number;
  cases: number;
  elapsedMs: number;
  families: Partial<Record<CodecFamily, FamilySummary>>;
  failures: FuzzFailure[];
}

/** Runs `options.cases` fuzz cases; never throws for a codec failure, which is reported instead. */
export function runCodecFuzz(options: FuzzOptions): FuzzSummary {
  const families = options.families ?? CODEC_FAMILIES;
  const maxFailures = options.maxFailures ?? 10;
  const firstCase = options.firstCase ?? 0;
  const summary: FuzzSummary = { seed: options.seed, cases: 0, elapsedMs: 0, families: {}, failures: [] };
  const started = performance.now();
  for (let index = firstCase; index < firstCase + options.cases && summary.failures.length < maxFailures; index++) {
    const family = families[index % families.length]!;
    const random = createSeededRandom(caseSeed(options.seed, index));
    const counts = (summary.families[family] ??= { cases: 0, frames: 0, errors: {} });
    const target = randomTarget(family, random);
    const testCase = random.below(2) === 0 ? validStream(target, random) : corruptStream(target, random);
    const pieces = splitRandomly(random, testCase.stream, 10);
    try {
      const expected = testCase.expected ?? target.model(testCase.stream);
      const actual = runCodec(target.create(), pieces, expected, target, random);
      counts.frames += actual.frames;
      if (actual.error !== null) counts.errors[actual.error] = (counts.errors[actual.error] ?? 0) + 1;
    } catch (error) {
      summary.failures.push({
        caseIndex: index,
        family,
        options: target.options,
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
        stream: testCase.stream.toString('hex'),
        pieces: pieces.map((piece) => piece.length),
      });
    }
    counts.cases++;
    summary.cases++;
  }
  summary.elapsedMs = performance.now() - started;
  return summary;
}

/** A per-case seed, so one case replays without the ones before it. */
function caseSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x85ebca6b, 0x9e3779b1) ^ index;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

interface FuzzCase {
  stream: Buffer;
  /** Known-good result for a round trip; otherwise the model decides. */
  expected?: ModelResult;
}

/** Frames encoded one by one (checking encode() accepts exactly what the model accepts), or wire frames built by hand. */
function validStream(target: FuzzTarget, random: SeededRandom): FuzzCase {
  const encoder = target.create();
  const parts: Buffer[] = [];
  const frames: Frame[] = [];
  const count = random.below(9);
  for (let i = 0; i < count; i++) {
    if (target.randomWireFrame !== undefined) {
      const built = target.randomWireFrame(random);
      if (built === undefined) break; // no frame satisfies these options
      parts.push(built.wire);
      frames.push(built.decoded);
      continue;
    }
    const { frame, error, decoded } = target.randomFrame(random);
    let encoded: Buffer | Buffer[];
    try {
      encoded = encoder.encode(frame);
    } catch (thrown) {
      if (thrown instanceof CodecError && thrown.code === error) continue;
      throw new Error(`encode(${describe(frame)}) threw ${String(thrown)}; expected ${error ?? 'success'}`, { cause: thrown });
    }
    if (error !== null) throw new Error(`encode(${describe(frame)}) succeeded; expected ${error}`);
    parts.push(...(Array.isArray(encoded) ? encoded : [encoded]));
    frames.push(decoded);
  }
  return { stream: Buffer.concat(parts), expected: { frames, decodeError: null, pending: 0, finishError: null } };
}

/** Random bytes biased to the codec's alphabet, or a valid stream with bytes flipped, inserted, removed or cut off. */
function corruptStream(target: FuzzTarget, random: SeededRandom): FuzzCase {
  if (random.below(3) === 0) {
    const length = random.below(120);
    const stream = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) stream[i] = random.below(3) === 0 ? random.below(256) : random.pick(target.alphabet);
    return { stream };
  }
  const bytes = [...validStream(target, random).stream];
  const mutations = random.between(1, 4);
  for (let i = 0; i < mutations; i++) {
    const at = random.below(bytes.length + 1);
    const byte = random.below(2) === 0 ? random.pick(target.alphabet) : random.below(256);
    switch (random.below(4)) {
      case 0:
        if (at < bytes.length) bytes[at] = byte;
        break;
      case 1:
        bytes.splice(at, 0, byte);
        break;
      case 2:
        bytes.splice(at, 1);
        break;
      case 3:
        bytes.length = at;
        break;
    }
  }
  return { stream: Buffer.from(bytes) };
}

/** Decodes `pieces` and finishes, checking every step against `expected`; returns the frame count and error code. */
function runCodec(
  codec: FrameCodec<FrameInput, Frame>,
  pieces: readonly Buffer[],
  expected: ModelResult,
  target: FuzzTarget,
  random: SeededRandom,
): { frames: number; error: CodecErrorCode | null } {
  const frames: Frame[] = [];
  const onFrame = (frame: Frame): void => void frames.push(typeof frame === 'string' ? frame : Buffer.from(frame));
  let error: CodecErrorCode | null = null;
  try {
    for (const piece of pieces) codec.decode(piece, onFrame);
  } catch (thrown) {
    error = codeOf(thrown, 'decode');
    assertSame(frames, expected.frames.slice(0, frames.length), 'frames before the decode error');
    if (error !== expected.decodeError) throw new Error(`decode() threw ${error}; expected ${expected.decodeError ?? 'success'}`);
    assertRecovers(codec, thrown, target, random);
    return { frames: frames.length, error };
  }
  if (expected.decodeError !== null) throw new Error(`decode() succeeded; expected ${expected.decodeError}`);
  if (codec.pendingBytes !== expected.pending) throw new Error(`pendingBytes is ${codec.pendingBytes}; expected ${expected.pending}`);
  try {
    codec.finish(onFrame);
  } catch (thrown) {
    error = codeOf(thrown, 'finish');
  }
  if (error !== expected.finishError) throw new Error(`finish() gave ${error ?? 'success'}; expected ${expected.finishError ?? 'success'}`);
  assertSame(frames, expected.frames, 'frames');
  return { frames: frames.length, error };
}

/** After a failure the codec repeats it; after reset() it decodes a fresh valid stream. */
function assertRecovers(codec: FrameCodec<FrameInput, Frame>, failure: unknown, target: FuzzTarget, random: SeededRandom): void {
  try {
    codec.decode(Buffer.from([0]), () => {});
    throw new Error('decode() after a failure succeeded; expected the same failure');
  } catch (thrown) {
    if (thrown !== failure) throw new Error(`decode() after a failure threw ${String(thrown)}; expected the same failure`);
  }
  codec.reset();
  const fresh = validStream(target, random);
  runCodec(codec, [fresh.stream], fresh.expected!, target, random);
}

function codeOf(thrown: unknown, where: string): CodecErrorCode {
  if (thrown instanceof CodecError) return thrown.code;
  throw new Error(`${where}() threw something other than a CodecError: ${String(thrown)}`, { cause: thrown });
}

function assertSame(actual: readonly Frame[], expected: readonly Frame[], what: string): void {
  const same =
    actual.length === expected.length &&
    actual.every((frame, i) => {
      const other = expected[i]!;
      return typeof frame === 'string' ? frame === other : typeof other !== 'string' && frame.equals(other);
    });
  if (!same) throw new Error(`${what}: got ${actual.map(describe).join(' ')}; expected ${expected.map(describe).join(' ')}`);
}

function describe(frame: FrameInput): string {
  return typeof frame === 'string' ? JSON.stringify(frame) : `<${Buffer.from(frame).toString('hex')}>`;
}

/** A readable report of `summary`, one line per family, then any failures. */
export function formatFuzzSummary(summary: FuzzSummary): string {
  const lines = [`seed ${summary.seed}: ${summary.cases} cases in ${(summary.elapsedMs / 1000).toFixed(2)} s`];
  for (const [family, counts] of Object.entries(summary.families)) {
    const errors = Object.entries(counts.errors).map(([code, n]) => `${code} ${n}`).join(', ') || 'no errors';
    lines.push(`  ${family.padEnd(13)} ${String(counts.cases).padStart(8)} cases ${String(counts.frames).padStart(9)} frames  ${errors}`);
  }
  for (const failure of summary.failures) {
    lines.push(
      `FAIL case ${failure.caseIndex} (${failure.family} ${JSON.stringify(failure.options, showBytes)})`,
      `  stream ${failure.stream} split ${failure.pieces.join('+')}`,
      `  ${failure.message.split('\n').join('\n  ')}`,
      `  replay: ${fuzzReplayCommand('codecs', summary.seed, failure.caseIndex)}`,
    );
  }
  return lines.join('\n');
}

/** JSON.stringify replacer: Buffers as `<hex>` instead of `{ type, data }`. */
function showBytes(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  return Buffer.isBuffer(original) ? `<${original.toString('hex')}>` : value;
}
