import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFixedLengthCodec } from '../../src/codecs/index.ts';
import { decodeAll, feed, isCodecError } from './conformance.ts';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('createFixedLengthCodec', () => {
  describe('options', () => {
    for (const frameLength of [undefined, 0, -3, 2.5]) {
      it(`throws SWB_ERR_INVALID_OPTION when frameLength is ${String(frameLength)}`, () => {
        assert.throws(() => createFixedLengthCodec({ frameLength: frameLength as number }), {
          code: 'SWB_ERR_INVALID_OPTION',
          message: `\`frameLength\` must be a positive integer, got ${String(frameLength)}`,
        });
      });
    }
  });

  describe('#decode', () => {
    it('cuts the stream every frameLength bytes, whatever the chunking', () => {
      const frames = decodeAll(createFixedLengthCodec({ frameLength: 3 }), [bytes('ab'), bytes('cdefg'), bytes('hi')]);
      assert.deepEqual(frames, [bytes('abc'), bytes('def'), bytes('ghi')]);
    });

    it('emits frames inside one chunk as views of it and holds the rest', () => {
      const chunk = bytes('abcdefg');
      const codec = createFixedLengthCodec({ frameLength: 3 });
      const frames = feed(codec, [chunk]);
      assert.deepEqual(frames, [bytes('abc'), bytes('def')]);
      assert.ok(frames.every((frame) => frame.buffer === chunk.buffer));
      assert.equal(codec.pendingBytes, 1);
    });
  });

  describe('#encode', () => {
    it('returns a frame of exactly frameLength bytes as it is', () => {
      const frame = bytes('abc');
      assert.equal(createFixedLengthCodec({ frameLength: 3 }).encode(frame), frame);
    });

    it('fails with SWB_ERR_FRAME_TOO_LARGE for a longer frame and SWB_ERR_BAD_FRAME for a shorter one', () => {
      const codec = createFixedLengthCodec({ frameLength: 3 });
      assert.throws(() => codec.encode('abcd'), { code: 'SWB_ERR_FRAME_TOO_LARGE', message: 'cannot encode a 4-byte frame: frameLength is 3' });
      assert.throws(() => codec.encode('ab'), { code: 'SWB_ERR_BAD_FRAME', message: 'cannot encode a 2-byte frame: frameLength is 3' });
    });
  });

  describe('#finish', () => {
    it('fails with SWB_ERR_BAD_FRAME when the stream ends inside a frame', () => {
      const codec = createFixedLengthCodec({ frameLength: 4 });
      codec.decode(bytes('abcdef'), () => {});
      assert.throws(() => codec.finish(() => {}), { code: 'SWB_ERR_BAD_FRAME', message: 'stream ended inside a frame (2 of 4 bytes)' });
      assert.throws(() => codec.decode(bytes('gh'), () => {}), isCodecError('SWB_ERR_BAD_FRAME'));
    });
  });
});
