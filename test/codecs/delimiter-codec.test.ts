import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDelimiterCodec, DEFAULT_MAX_FRAME_LENGTH } from '../../src/codecs/index.ts';
import { concatEncoded, decodeAll, feed, isCodecError } from './conformance.ts';
import { splitAt } from '../helpers/seeded-random.ts';
import { countScans } from './scan-counter.ts';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const chunks = (...texts: string[]): Buffer[] => texts.map(bytes);
const texts = (frames: Buffer[]): string[] => frames.map((frame) => frame.toString('latin1'));

describe('createDelimiterCodec', () => {
  describe('options', () => {
    for (const delimiter of [undefined, '', Buffer.alloc(0), 10]) {
      it(`throws SWB_ERR_INVALID_OPTION when delimiter is ${JSON.stringify(delimiter)}`, () => {
        assert.throws(() => createDelimiterCodec({ delimiter: delimiter as string }), {
          code: 'SWB_ERR_INVALID_OPTION',
          message: /^`delimiter` must be a non-empty string or Uint8Array, got /,
        });
      });
    }

    it('throws SWB_ERR_INVALID_OPTION when maxFrameLength or includeDelimiter are wrong', () => {
      assert.throws(() => createDelimiterCodec({ delimiter: ';', maxFrameLength: 0 }), {
        message: '`maxFrameLength` must be a positive integer, got 0',
      });
      assert.throws(() => createDelimiterCodec({ delimiter: ';', includeDelimiter: 'yes' as unknown as boolean }), {
        message: '`includeDelimiter` must be a boolean, got "yes"',
      });
    });

    it('caps frames at 8 MiB by default', () => {
      assert.equal(DEFAULT_MAX_FRAME_LENGTH, 8 * 1024 * 1024);
      const codec = createDelimiterCodec({ delimiter: ';' });
      codec.decode(Buffer.alloc(DEFAULT_MAX_FRAME_LENGTH, 0x61), () => {});
      assert.throws(() => codec.decode(bytes('a'), () => {}), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });

    it('copies the delimiter, so changing the caller buffer later changes nothing', () => {
      const delimiter = bytes('||');
      const codec = createDelimiterCodec({ delimiter });
      delimiter.fill(0x21);
      assert.deepEqual(texts(decodeAll(codec, chunks('a||b!!c||'))), ['a', 'b!!c']);
    });
  });

  describe('#decode', () => {
    it('finds a multi-byte delimiter split across two chunks at every position', () => {
      const stream = bytes('head\r\n\r\nbody\r\n\r\n');
      for (let offset = 0; offset <= stream.length; offset++) {
        const codec = createDelimiterCodec({ delimiter: '\r\n\r\n' });
        assert.deepEqual(texts(decodeAll(codec, splitAt(stream, [offset]))), ['head', 'body'], `split at ${offset}`);
      }
    });

    it('finds a delimiter split across several chunks, one byte each', () => {
      const codec = createDelimiterCodec({ delimiter: '\r\n\r\n' });
      assert.deepEqual(texts(feed(codec, chunks('x\r', '\n', '\r', '\ny'))), ['x']);
      assert.equal(codec.pendingBytes, 1);
    });

    it('does not end a frame at a partial delimiter followed by a mismatch', () => {
      const codec = createDelimiterCodec({ delimiter: '\r\n\r\n' });
      assert.deepEqual(texts(decodeAll(codec, chunks('a\r\n', '\rX\r\n\r', '\n'))), ['a\r\n\rX']);
    });

    it('ends a frame at the earliest delimiter when the delimiter overlaps itself', () => {
      for (const pieces of [['xaaab'], ['xa', 'aab'], ['xaa', 'ab'], ['xaaa', 'b'], ['x', 'a', 'a', 'a', 'b']]) {
        const codec = createDelimiterCodec({ delimiter: 'aab' });
        assert.deepEqual(texts(decodeAll(codec, chunks(...pieces))), ['xa'], pieces.join('|'));
      }
    });

    it('keeps the delimiter at the end of each frame when includeDelimiter is set', () => {
      const codec = createDelimiterCodec({ delimiter: '\r\n', includeDelimiter: true });
      assert.deepEqual(texts(decodeAll(codec, chunks('a\r', '\nb\r\n'))), ['a\r\n', 'b\r\n']);
    });

    it('emits frames inside one chunk as views of it', () => {
      const chunk = bytes('one;two;');
      const frames = feed(createDelimiterCodec({ delimiter: ';' }), [chunk]);
      assert.deepEqual(texts(frames), ['one', 'two']);
      assert.ok(frames.every((frame) => frame.buffer === chunk.buffer));
    });

    it('fails with SWB_ERR_FRAME_TOO_LARGE once the pending bytes cannot be a frame within maxFrameLength', () => {
      const codec = createDelimiterCodec({ delimiter: '||', maxFrameLength: 4 });
      codec.decode(bytes('abcd|'), () => {}); // the last byte may begin the delimiter
      assert.equal(codec.pendingBytes, 5);
      assert.throws(() => codec.decode(bytes('x'), () => {}), {
        name: 'CodecError',
        code: 'SWB_ERR_FRAME_TOO_LARGE',
        message: 'frame longer than maxFrameLength (4 bytes)',
      });
      assert.throws(() => createDelimiterCodec({ delimiter: '||', maxFrameLength: 4 }).decode(bytes('abcde'), () => {}), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
      assert.deepEqual(texts(feed(createDelimiterCodec({ delimiter: '||', maxFrameLength: 4 }), chunks('abcd|', '|'))), ['abcd']);
    });

    it('scans each byte a bounded number of times, without concatenating, when a long frame arrives byte by byte', () => {
      const length = 8000;
      const codec = createDelimiterCodec({ delimiter: '\r\n\r\n' });
      const frame = Buffer.alloc(length, 0x61);
      const frames: Buffer[] = [];
      const count = countScans(() => {
        for (let i = 0; i < length; i++) codec.decode(frame.subarray(i, i + 1), (f) => frames.push(f));
        codec.decode(bytes('\r\n\r\n'), (f) => frames.push(f));
      });
      assert.deepEqual(frames, [frame]);
      // at most the chunk plus a probe of 2 × (delimiter length − 1) bytes per chunk
      assert.ok(count.scannedBytes <= 8 * (length + 4), `scanned ${count.scannedBytes} bytes`);
      assert.equal(count.concatCalls, 0);
    });
  });

  describe('#encode', () => {
    it('returns the frame and the delimiter without copying the frame', () => {
      const frame = bytes('payload');
      const encoded = createDelimiterCodec({ delimiter: '\0' }).encode(frame);
      assert.equal(encoded[0], frame);
      assert.deepEqual(encoded[1], bytes('\0'));
    });

    it('returns the same delimiter Buffer every time, and changing it does not change decoding', () => {
      for (const delimiter of [';', '||']) {
        const codec = createDelimiterCodec({ delimiter });
        const first = (codec.encode('a') as Buffer[])[1]!;
        assert.equal((codec.encode(bytes('b')) as Buffer[])[1], first);
        first.fill(0x21);
        assert.deepEqual(texts(decodeAll(codec, [bytes(`x${delimiter}y!z${delimiter}`)])), ['x', 'y!z']);
      }
    });

    it('fails with SWB_ERR_BAD_FRAME for a frame containing the delimiter', () => {
      assert.throws(() => createDelimiterCodec({ delimiter: '||' }).encode('a||b'), {
        code: 'SWB_ERR_BAD_FRAME',
        message: 'cannot encode a frame that contains the delimiter',
      });
      for (const frame of ['\n', 'a\n', '\nb', 'a\nb']) {
        assert.throws(() => createDelimiterCodec({ delimiter: '\n' }).encode(bytes(frame)), isCodecError('SWB_ERR_BAD_FRAME'), JSON.stringify(frame));
      }
      assert.deepEqual(concatEncoded(createDelimiterCodec({ delimiter: '\n' }).encode('a\rb')), bytes('a\rb\n'));
    });

    it('fails with SWB_ERR_BAD_FRAME for a frame whose end runs into the delimiter', () => {
      // 'xa' + 'aa' would read back as 'x' followed by a stray 'a'
      assert.throws(() => createDelimiterCodec({ delimiter: 'aa' }).encode('xa'), isCodecError('SWB_ERR_BAD_FRAME'));
      assert.throws(() => createDelimiterCodec({ delimiter: 'abab' }).encode('xab'), isCodecError('SWB_ERR_BAD_FRAME'));
      assert.deepEqual(concatEncoded(createDelimiterCodec({ delimiter: 'abab' }).encode('xaba')), bytes('xabaabab'));
      // 'abcab' overlaps itself by 'ab': only a frame ending in 'abc' runs into it
      const codec = createDelimiterCodec({ delimiter: 'abcab' });
      assert.throws(() => codec.encode('xabc'), isCodecError('SWB_ERR_BAD_FRAME'));
      assert.throws(() => codec.encode('abc'), isCodecError('SWB_ERR_BAD_FRAME'));
      for (const frame of ['xbbc', 'xabb', 'xab', 'bc', 'c', '']) {
        assert.deepEqual(decodeAll(createDelimiterCodec({ delimiter: 'abcab' }), [concatEncoded(codec.encode(frame))]), [bytes(frame)], frame);
      }
    });

    it('fails with SWB_ERR_FRAME_TOO_LARGE for a frame over maxFrameLength', () => {
      assert.throws(() => createDelimiterCodec({ delimiter: ';', maxFrameLength: 2 }).encode('abc'), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });
  });

  describe('#finish', () => {
    it('fails with SWB_ERR_BAD_FRAME when the stream ends inside a frame', () => {
      const codec = createDelimiterCodec({ delimiter: ';' });
      codec.decode(bytes('a;bc'), () => {});
      assert.throws(() => codec.finish(() => {}), { code: 'SWB_ERR_BAD_FRAME', message: 'stream ended inside a frame (2 bytes pending)' });
    });
  });
});
