/**
 * The conformance suite every framing codec passes: encode frames, then decode the stream split
 * at every offset, every pair of offsets, byte by byte and at random; oversized, malformed and
 * truncated input fail with their codes; reset() recovers; pendingBytes is exact.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CodecError } from '../../src/codecs/index.ts';
import type { FrameCodec, FrameInput } from '../../src/codecs/index.ts';
import { createSeededRandom, splitAt, splitRandomly } from '../helpers/seeded-random.ts';

/** One codec configuration under test. */
export interface ConformanceCase<Out extends string | Buffer> {
  /** Creates a fresh codec in the configuration under test. */
  create(): FrameCodec<FrameInput, Out>;
  /** Frames to encode; include empty and boundary-sized ones where the codec allows them. */
  frames: readonly FrameInput[];
  /** What `frames` decode to, when not the frames themselves (as Buffers or strings like `Out`). */
  decoded?: readonly Out[];
  /** A stream that must fail with SWB_ERR_FRAME_TOO_LARGE during decode(), however it is split. */
  oversized?: Buffer;
  /** A frame encode() must refuse with SWB_ERR_FRAME_TOO_LARGE. */
  oversizedFrame?: FrameInput;
  /** A stream that must fail with SWB_ERR_BAD_FRAME during decode(), however it is split. */
  malformed?: Buffer;
}

/** Registers the conformance suite for one codec configuration under `describe(title)`. */
export function describeConformance<Out extends string | Buffer>(title: string, spec: ConformanceCase<Out>): void {
  const encodedFrames = spec.frames.map((frame) => concatEncoded(spec.create().encode(frame)));
  const stream = Buffer.concat(encodedFrames);
  const expected = spec.decoded ?? spec.frames.map((frame) => (typeof frame === 'string' ? frame : Buffer.from(frame)));
  const boundaries = new Set<number>([0]);
  encodedFrames.reduce((offset, encoded) => (boundaries.add(offset + encoded.length), offset + encoded.length), 0);

  describe(title, () => {
    describe('#encode', () => {
      it('returns a Buffer or an array of Buffers that decodes back to the frame', () => {
        const codec = spec.create();
        spec.frames.forEach((frame, index) => {
          const encoded = codec.encode(frame);
          const parts = Array.isArray(encoded) ? encoded : [encoded];
          assert.ok(parts.every((part) => Buffer.isBuffer(part)));
          assert.deepEqual(decodeAll(spec.create(), parts), [expected[index]]);
        });
      });

      if (spec.oversizedFrame !== undefined) {
        const frame = spec.oversizedFrame;
        it('fails with SWB_ERR_FRAME_TOO_LARGE when the frame exceeds the maximum', () => {
          assert.throws(() => spec.create().encode(frame), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
        });
      }
    });

    describe('#decode', () => {
      it('returns every frame when the stream arrives whole', () => {
        assert.deepEqual(decodeAll(spec.create(), [stream]), expected);
      });

      it('returns every frame when the stream is split at any one offset', () => {
        for (let offset = 0; offset <= stream.length; offset++) {
          assert.deepEqual(decodeAll(spec.create(), splitAt(stream, [offset])), expected, `split at ${offset}`);
        }
      });

      it('returns every frame when the stream is split at any two offsets', () => {
        for (let first = 0; first <= stream.length; first++) {
          for (let second = first; second <= stream.length; second++) {
            const pieces = splitAt(stream, [first, second]);
            assert.deepEqual(decodeAll(spec.create(), pieces), expected, `split at ${first} and ${second}`);
          }
        }
      });

      it('returns every frame when the stream arrives one byte at a time', () => {
        const bytes = [...stream].map((byte) => Buffer.from([byte]));
        assert.deepEqual(decodeAll(spec.create(), bytes), expected);
      });

      it('returns every frame when the stream arrives in random pieces', () => {
        const random = createSeededRandom(0x5eed);
        for (let round = 0; round < 300; round++) {
          const pieces = splitRandomly(random, stream, 12);
          assert.deepEqual(decodeAll(spec.create(), pieces), expected, `pieces ${pieces.map((p) => p.length)}`);
        }
      });

      if (expected.some((frame) => typeof frame !== 'string')) it('emits frames that lie inside one chunk as views of that chunk', () => {
        const chunk = Buffer.alloc(stream.length); // its own ArrayBuffer, not the shared pool
        stream.copy(chunk);
        const frames: Out[] = [];
        spec.create().decode(chunk, (frame) => frames.push(frame));
        for (const frame of frames) assert.ok(Buffer.isBuffer(frame) && frame.buffer === chunk.buffer);
      });

      if (spec.oversized !== undefined) {
        const oversized = spec.oversized;
        it('fails with SWB_ERR_FRAME_TOO_LARGE before the stream ends when a frame exceeds the maximum', () => {
          for (let offset = 0; offset <= oversized.length; offset++) {
            const codec = spec.create();
            assert.throws(() => feed(codec, splitAt(oversized, [offset])), isCodecError('SWB_ERR_FRAME_TOO_LARGE'), `split at ${offset}`);
          }
          const bytes = [...oversized].map((byte) => Buffer.from([byte]));
          assert.throws(() => feed(spec.create(), bytes), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
        });
      }

      if (spec.malformed !== undefined) {
        const malformed = spec.malformed;
        it('fails with SWB_ERR_BAD_FRAME when the input is malformed', () => {
          for (let offset = 0; offset <= malformed.length; offset++) {
            const codec = spec.create();
            assert.throws(() => feed(codec, splitAt(malformed, [offset])), isCodecError('SWB_ERR_BAD_FRAME'), `split at ${offset}`);
          }
        });
      }

      it('stays failed after onFrame throws, until reset()', () => {
        const codec = spec.create();
        const boom = new Error('handler failed');
        assert.throws(() => codec.decode(stream, () => { throw boom; }), (error) => error === boom);
        assert.throws(() => codec.decode(stream, () => {}), (error) => isCodecError('SWB_ERR_BAD_FRAME')(error) && (error as Error).cause === boom);
        codec.reset();
        assert.deepEqual(decodeAll(codec, [stream]), expected);
      });
    });

    describe('#finish', () => {
      it('fails with SWB_ERR_BAD_FRAME when the stream ends inside a frame', () => {
        for (let offset = 1; offset < stream.length; offset++) {
          if (boundaries.has(offset)) continue;
          const codec = spec.create();
          codec.decode(stream.subarray(0, offset), () => {});
          assert.throws(() => codec.finish(() => {}), isCodecError('SWB_ERR_BAD_FRAME'), `truncated at ${offset}`);
          assert.throws(() => codec.decode(stream, () => {}), isCodecError('SWB_ERR_BAD_FRAME'), 'stays failed');
        }
      });

      it('emits nothing and succeeds when the stream ends between frames', () => {
        for (const offset of boundaries) {
          const codec = spec.create();
          const frames = decodeAll(codec, [stream.subarray(0, offset)]);
          assert.equal(frames.length, [...boundaries].filter((b) => b > 0 && b <= offset).length);
          assert.deepEqual(decodeAll(codec, [stream]), expected, 'usable again after finish()');
        }
      });
    });

    describe('#pendingBytes', () => {
      it('counts the bytes received since the last complete frame', () => {
        const codec = spec.create();
        let lastBoundary = 0;
        for (let offset = 1; offset <= stream.length; offset++) {
          codec.decode(stream.subarray(offset - 1, offset), () => {});
          if (boundaries.has(offset)) lastBoundary = offset;
          assert.equal(codec.pendingBytes, offset - lastBoundary, `after ${offset} bytes`);
        }
      });
    });

    describe('#reset', () => {
      it('drops a partial frame', () => {
        const codec = spec.create();
        const partial = [...boundaries].find((b) => b > 1) ?? 1;
        codec.decode(stream.subarray(0, partial - 1), () => {});
        codec.reset();
        assert.equal(codec.pendingBytes, 0);
        assert.deepEqual(decodeAll(codec, [stream]), expected);
      });

      const failing = spec.oversized ?? spec.malformed;
      if (failing !== undefined) {
        it('recovers a codec that failed, which fails again until then', () => {
          const codec = spec.create();
          let first: unknown;
          assert.throws(() => codec.decode(failing, () => {}), (error) => ((first = error), error instanceof CodecError));
          assert.throws(() => codec.decode(stream, () => {}), (error) => error === first);
          assert.throws(() => codec.finish(() => {}), (error) => error === first);
          codec.reset();
          assert.equal(codec.pendingBytes, 0);
          assert.deepEqual(decodeAll(codec, [stream]), expected);
        });
      }
    });
  });
}

/** Decodes `pieces` in order, then finishes; returns every frame. */
export function decodeAll<Out>(codec: FrameCodec<FrameInput, Out>, pieces: readonly Buffer[]): Out[] {
  const frames: Out[] = [];
  for (const piece of pieces) codec.decode(piece, (frame) => frames.push(frame));
  codec.finish((frame) => frames.push(frame));
  return frames;
}

/** Decodes `pieces` in order without finishing. */
export function feed<Out>(codec: FrameCodec<FrameInput, Out>, pieces: readonly Buffer[]): Out[] {
  const frames: Out[] = [];
  for (const piece of pieces) codec.decode(piece, (frame) => frames.push(frame));
  return frames;
}

/** The bytes encode() returned, as one Buffer. */
export function concatEncoded(encoded: Buffer | Buffer[]): Buffer {
  return Array.isArray(encoded) ? Buffer.concat(encoded) : encoded;
}

/** An assert.throws validator: a CodecError with this code. */
export function isCodecError(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof CodecError, `expected a CodecError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.name, 'CodecError');
    return true;
  };
}
