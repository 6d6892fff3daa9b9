import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLengthFieldCodec } from '../../src/codecs/index.ts';
import type { LengthFieldCodecOptions } from '../../src/codecs/index.ts';
import { concatEncoded, decodeAll, feed, isCodecError } from './conformance.ts';
import { countScans } from './scan-counter.ts';

const hex = (text: string): Buffer => Buffer.from(text.replaceAll(' ', ''), 'hex');
const HELLO = Buffer.from('HELLO, WORLD').toString('hex'); // 12 bytes, 0x0C

function encodedParts(encoded: Buffer | Buffer[]): Buffer[] {
  assert.ok(Array.isArray(encoded), 'encode() returns an array of buffers');
  return encoded;
}

/** The worked examples of Netty's LengthFieldBasedFrameDecoder documentation, byte for byte. */
const nettyExamples: { title: string; options: LengthFieldCodecOptions; wire: string; frame: string }[] = [
  {
    title: '2-byte length, no strip: the whole frame',
    options: { lengthFieldLength: 2, initialBytesToStrip: 0 },
    wire: `000C ${HELLO}`,
    frame: `000C ${HELLO}`,
  },
  {
    title: '2-byte length, header stripped',
    options: { lengthFieldLength: 2, initialBytesToStrip: 2 },
    wire: `000C ${HELLO}`,
    frame: HELLO,
  },
  {
    title: '2-byte length counting the header (lengthAdjustment -2)',
    options: { lengthFieldLength: 2, lengthAdjustment: -2, initialBytesToStrip: 0 },
    wire: `000E ${HELLO}`,
    frame: `000E ${HELLO}`,
  },
  {
    title: '3-byte length after a 2-byte header',
    options: { lengthFieldOffset: 2, lengthFieldLength: 3, initialBytesToStrip: 0 },
    wire: `CAFE 00000C ${HELLO}`,
    frame: `CAFE 00000C ${HELLO}`,
  },
  {
    title: '3-byte length before a 2-byte header (lengthAdjustment 2)',
    options: { lengthFieldLength: 3, lengthAdjustment: 2, initialBytesToStrip: 0 },
    wire: `00000C CAFE ${HELLO}`,
    frame: `00000C CAFE ${HELLO}`,
  },
  {
    title: 'length between HDR1 and HDR2, strip HDR1 and the length',
    options: { lengthFieldOffset: 1, lengthFieldLength: 2, lengthAdjustment: 1, initialBytesToStrip: 3 },
    wire: `CA 000C FE ${HELLO}`,
    frame: `FE ${HELLO}`,
  },
  {
    title: 'length between HDR1 and HDR2 counting the whole frame, strip HDR1 and the length',
    options: { lengthFieldOffset: 1, lengthFieldLength: 2, lengthAdjustment: -3, initialBytesToStrip: 3 },
    wire: `CA 0010 FE ${HELLO}`,
    frame: `FE ${HELLO}`,
  },
];

describe('createLengthFieldCodec', () => {
  describe('options', () => {
    const cases: [LengthFieldCodecOptions, string][] = [
      [{ lengthFieldLength: 5 as 4 }, '`lengthFieldLength` must be one of 1, 2, 3, 4, 8, got 5'],
      [{ byteOrder: 'middle' as 'big' }, '`byteOrder` must be one of "big", "little", got "middle"'],
      [{ lengthFieldOffset: -1 }, '`lengthFieldOffset` must be a non-negative integer, got -1'],
      [{ lengthAdjustment: 0.5 }, '`lengthAdjustment` must be a safe integer, got 0.5'],
      [{ initialBytesToStrip: -2 }, '`initialBytesToStrip` must be a non-negative integer, got -2'],
      [{ maxFrameLength: 0 }, '`maxFrameLength` must be a positive integer, got 0'],
      [{ lengthIncludesHeader: 'no' as unknown as boolean }, '`lengthIncludesHeader` must be a boolean, got "no"'],
    ];
    for (const [options, message] of cases) {
      it(`throws SWB_ERR_INVALID_OPTION: ${message}`, () => {
        assert.throws(() => createLengthFieldCodec(options), { name: 'InvalidOptionError', code: 'SWB_ERR_INVALID_OPTION', message });
      });
    }

    it('reads a 4-byte big-endian length and strips it by default, like tokio-util', () => {
      assert.deepEqual(decodeAll(createLengthFieldCodec(), [hex('0000000B 68656c6c6f20776f726c64')]), [Buffer.from('hello world')]);
    });
  });

  describe('#decode', () => {
    for (const example of nettyExamples) {
      it(`decodes Netty's example: ${example.title}`, () => {
        const wire = hex(example.wire);
        assert.deepEqual(decodeAll(createLengthFieldCodec(example.options), [wire, wire]), [hex(example.frame), hex(example.frame)]);
        const bytes = [...wire].map((byte) => Buffer.from([byte]));
        assert.deepEqual(decodeAll(createLengthFieldCodec(example.options), bytes), [hex(example.frame)]);
      });
    }

    const widths: [1 | 2 | 3 | 4 | 8, string, string][] = [
      [1, '05', '05'],
      [2, '0005', '0500'],
      [3, '000005', '050000'],
      [4, '00000005', '05000000'],
      [8, '0000000000000005', '0500000000000000'],
    ];
    for (const [lengthFieldLength, big, little] of widths) {
      it(`reads a ${lengthFieldLength}-byte length in both byte orders`, () => {
        const payload = '0102030405';
        assert.deepEqual(decodeAll(createLengthFieldCodec({ lengthFieldLength }), [hex(big + payload)]), [hex(payload)]);
        assert.deepEqual(decodeAll(createLengthFieldCodec({ lengthFieldLength, byteOrder: 'little' }), [hex(little + payload)]), [hex(payload)]);
      });
    }

    it('reads a 3-byte length beyond 16 bits (0x010002 = 65538)', () => {
      const payload = Buffer.alloc(65538, 7);
      const big = decodeAll(createLengthFieldCodec({ lengthFieldLength: 3 }), [hex('010002'), payload]);
      const little = decodeAll(createLengthFieldCodec({ lengthFieldLength: 3, byteOrder: 'little' }), [hex('020001'), payload]);
      assert.deepEqual(big, [payload]);
      assert.deepEqual(little, [payload]);
    });

    it('emits zero-length frames, several in one chunk', () => {
      const frames = decodeAll(createLengthFieldCodec({ lengthFieldLength: 2 }), [hex('0000 0000 0001 2a 0000')]);
      assert.deepEqual(frames, [hex(''), hex(''), hex('2a'), hex('')]);
    });

    it('fails with SWB_ERR_FRAME_TOO_LARGE from the length field alone, before the payload arrives', () => {
      const codec = createLengthFieldCodec({ lengthFieldLength: 2, maxFrameLength: 10 });
      assert.throws(() => codec.decode(hex('000B'), () => {}), {
        name: 'CodecError',
        code: 'SWB_ERR_FRAME_TOO_LARGE',
        message: 'frame of 11 bytes exceeds maxFrameLength (10 bytes)',
      });
    });

    it('measures maxFrameLength on the frame as emitted, header included when it is not stripped', () => {
      const options = { lengthFieldLength: 2, initialBytesToStrip: 0, maxFrameLength: 10 } as const;
      assert.deepEqual(decodeAll(createLengthFieldCodec(options), [hex('0008 0102030405060708')]), [hex('0008 0102030405060708')]);
      assert.throws(() => createLengthFieldCodec(options).decode(hex('0009'), () => {}), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });

    it('bounds an 8-byte length by maxFrameLength', () => {
      const codec = createLengthFieldCodec({ lengthFieldLength: 8, maxFrameLength: 1024 });
      assert.throws(() => codec.decode(hex('0000010000000000'), () => {}), {
        code: 'SWB_ERR_FRAME_TOO_LARGE',
        message: 'frame of 1099511627776 bytes exceeds maxFrameLength (1024 bytes)',
      });
      assert.throws(() => createLengthFieldCodec({ lengthFieldLength: 8 }).decode(hex('0000000000800001'), () => {}), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });

    it('fails with SWB_ERR_BAD_FRAME when an 8-byte length overflows a safe integer', () => {
      for (const field of ['0020000000000000', 'ffffffffffffffff', '8000000000000000']) {
        assert.throws(() => createLengthFieldCodec({ lengthFieldLength: 8 }).decode(hex(field), () => {}), {
          code: 'SWB_ERR_BAD_FRAME',
          message: 'length field overflows: the frame length is beyond 9007199254740991 bytes',
        });
      }
      // 2^53 − 9 plus the 8-byte header is exactly 2^53 − 1: representable, so merely too large
      assert.throws(() => createLengthFieldCodec({ lengthFieldLength: 8 }).decode(hex('001ffffffffffff7'), () => {}), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });

    it('fails with SWB_ERR_BAD_FRAME when lengthAdjustment makes the frame shorter than its header', () => {
      const codec = createLengthFieldCodec({ lengthFieldLength: 2, lengthAdjustment: -5 });
      assert.throws(() => codec.decode(hex('0001 aa'), () => {}), {
        code: 'SWB_ERR_BAD_FRAME',
        message: 'length field 1 with lengthAdjustment -5 gives a -2-byte frame, shorter than its 2-byte header',
      });
    });

    it('fails with SWB_ERR_BAD_FRAME when the frame is shorter than initialBytesToStrip', () => {
      const codec = createLengthFieldCodec({ lengthFieldLength: 1, initialBytesToStrip: 4 });
      assert.throws(() => codec.decode(hex('02 aabb'), () => {}), {
        code: 'SWB_ERR_BAD_FRAME',
        message: 'length field 2 gives a 3-byte frame, shorter than initialBytesToStrip (4)',
      });
    });

    it('fails with SWB_ERR_BAD_FRAME when a length that counts the header is smaller than the header', () => {
      const codec = createLengthFieldCodec({ lengthFieldLength: 4, lengthIncludesHeader: true });
      assert.deepEqual(feed(codec, [hex('00000004 00000006 abcd')]), [hex(''), hex('abcd')]);
      assert.throws(() => codec.decode(hex('00000003'), () => {}), isCodecError('SWB_ERR_BAD_FRAME'));
    });

    it('copies a frame spanning chunks once, without the stripped header, and no bytes are scanned', () => {
      const codec = createLengthFieldCodec({ lengthFieldLength: 2 });
      const frames: Buffer[] = [];
      const count = countScans(() => {
        for (const piece of [hex('00'), hex('04 aa'), hex('bb'), hex('cc dd 00 01 ee')]) codec.decode(piece, (frame) => frames.push(frame));
      });
      assert.deepEqual(frames, [hex('aabbccdd'), hex('ee')]);
      assert.equal(frames[0]!.byteLength, 4);
      assert.deepEqual(count, { scannedBytes: 0, concatCalls: 0 });
    });
  });

  describe('#encode', () => {
    it('returns [length field, payload] without copying the payload, in every width and byte order', () => {
      const payload = Buffer.from('abcde');
      const expected: Record<string, string> = {
        '1big': '05', '1little': '05', '2big': '0005', '2little': '0500', '3big': '000005', '3little': '050000',
        '4big': '00000005', '4little': '05000000', '8big': '0000000000000005', '8little': '0500000000000000',
      };
      for (const lengthFieldLength of [1, 2, 3, 4, 8] as const) {
        for (const byteOrder of ['big', 'little'] as const) {
          const [header, body] = encodedParts(createLengthFieldCodec({ lengthFieldLength, byteOrder }).encode(payload));
          assert.deepEqual(header, hex(expected[`${lengthFieldLength}${byteOrder}`]!), `${lengthFieldLength} ${byteOrder}`);
          assert.equal(body, payload);
        }
      }
    });

    it('writes lengthAdjustment and lengthIncludesHeader into the field', () => {
      assert.deepEqual(concatEncoded(createLengthFieldCodec({ lengthFieldLength: 2, lengthIncludesHeader: true }).encode('hi')), hex('0004 6869'));
      assert.deepEqual(concatEncoded(createLengthFieldCodec({ lengthFieldLength: 1, lengthAdjustment: -2 }).encode('hi')), hex('04 6869'));
    });

    it('fills in the length field of a whole frame when initialBytesToStrip is 0, leaving the caller frame alone', () => {
      const codec = createLengthFieldCodec({ lengthFieldOffset: 1, lengthFieldLength: 2, initialBytesToStrip: 0 });
      const frame = hex('07 0000 aabbcc');
      const [header, rest] = encodedParts(codec.encode(frame));
      assert.deepEqual(header, hex('07 0003'));
      assert.deepEqual(rest, hex('aabbcc'));
      assert.equal(rest!.buffer, frame.buffer);
      assert.deepEqual(frame, hex('07 0000 aabbcc'));
    });

    it('throws SWB_ERR_INVALID_OPTION when the set-up is decode-only', () => {
      const codec = createLengthFieldCodec({ lengthFieldOffset: 1, lengthFieldLength: 2, lengthAdjustment: 1, initialBytesToStrip: 3 });
      assert.throws(() => codec.encode('x'), {
        name: 'InvalidOptionError',
        code: 'SWB_ERR_INVALID_OPTION',
        message: '`initialBytesToStrip` must be 0, or 2 with lengthFieldOffset 0, for encode(), got 3',
      });
    });

    it('fails with SWB_ERR_FRAME_TOO_LARGE over maxFrameLength or when the length does not fit the field', () => {
      assert.throws(() => createLengthFieldCodec({ maxFrameLength: 3 }).encode('abcd'), {
        code: 'SWB_ERR_FRAME_TOO_LARGE',
        message: 'frame of 4 bytes exceeds maxFrameLength (3 bytes)',
      });
      assert.throws(() => createLengthFieldCodec({ lengthFieldLength: 1 }).encode(Buffer.alloc(256)), {
        code: 'SWB_ERR_FRAME_TOO_LARGE',
        message: 'cannot encode a 257-byte frame: length 256 does not fit a 1-byte field',
      });
      assert.equal(concatEncoded(createLengthFieldCodec({ lengthFieldLength: 1 }).encode(Buffer.alloc(255)))[0], 255);
    });

    it('fails with SWB_ERR_BAD_FRAME when the field would be negative or a whole frame lacks its header', () => {
      assert.throws(() => createLengthFieldCodec({ lengthFieldLength: 2, lengthAdjustment: 3 }).encode('ab'), {
        code: 'SWB_ERR_BAD_FRAME',
        message: 'cannot encode a 4-byte frame: lengthAdjustment 3 makes its length field negative',
      });
      assert.throws(() => createLengthFieldCodec({ lengthFieldLength: 4, initialBytesToStrip: 0 }).encode('abc'), {
        code: 'SWB_ERR_BAD_FRAME',
        message: 'cannot encode a 3-byte frame: shorter than its 4-byte header',
      });
    });
  });

  describe('#finish', () => {
    it('fails with SWB_ERR_BAD_FRAME, saying what was expected, when the stream ends inside a frame', () => {
      const inHeader = createLengthFieldCodec();
      inHeader.decode(hex('0000'), () => {});
      assert.throws(() => inHeader.finish(() => {}), { code: 'SWB_ERR_BAD_FRAME', message: 'stream ended inside a frame (2 of 4 header bytes)' });
      const inPayload = createLengthFieldCodec();
      inPayload.decode(hex('00000005 0102'), () => {});
      assert.throws(() => inPayload.finish(() => {}), { code: 'SWB_ERR_BAD_FRAME', message: 'stream ended inside a frame (6 of 9 bytes)' });
    });
  });
});
