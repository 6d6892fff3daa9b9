import {
  createDelimiterCodec,
  createFixedLengthCodec,
  createLengthFieldCodec,
  createLineCodec,
} from '../../src/codecs/index.ts';
import type { LengthFieldLength } from '../../src/codecs/index.ts';
import { describeConformance } from './conformance.ts';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describeConformance('LineCodec (utf8, LF)', {
  create: () => createLineCodec({ maxLineLength: 16 }),
  frames: ['HELLO alice', '', 'x'.repeat(16), 'tab\there', 'a\rb', 'caf\u00e9 \u20ac \u{1f600}', ''],
  oversized: Buffer.from(`ok\n${'x'.repeat(40)}`),
  oversizedFrame: 'y'.repeat(17),
  malformed: bytes('ok\n\xff\xfe\n'),
});

describeConformance('LineCodec (bytes, CRLF)', {
  create: () => createLineCodec({ maxLineLength: 8, encoding: null, newline: '\r\n' }),
  frames: [bytes('PING'), bytes(''), bytes('\xff\x00\rz'), bytes('12345678'), bytes('\r\r.')],
  oversized: bytes('short\r\n123456789'),
  oversizedFrame: bytes('123456789'),
});

describeConformance('LineCodec (latin1, CRLF)', {
  create: () => createLineCodec({ maxLineLength: 6, encoding: 'latin1', newline: '\r\n' }),
  frames: ['caf\u00e9', '', '\r\r.', 'a\rb', '\u00ff\u00ff\u00ff\u00ff\u00ff\u00ff'],
  oversized: bytes('ok\r\n1234567\r\n'),
  oversizedFrame: 'seven!!',
});

// One-byte delimiters take the byte-search path (`indexOf(number)`), longer ones the sequence
// path with a tail probe for delimiters split across chunks: both are covered, kept and dropped.
describeConformance('DelimiterCodec (one byte)', {
  create: () => createDelimiterCodec({ delimiter: '\0', maxFrameLength: 12 }),
  frames: [bytes('alpha'), bytes(''), bytes('123456789012'), bytes('\n\r\xff')],
  oversized: bytes(`a\0${'b'.repeat(20)}`),
  oversizedFrame: bytes('x'.repeat(13)),
});

describeConformance('DelimiterCodec (one byte LF, kept)', {
  create: () => createDelimiterCodec({ delimiter: '\n', maxFrameLength: 6, includeDelimiter: true }),
  frames: [bytes('line'), bytes(''), bytes('\r'), bytes('123456'), bytes('\0\r\0')],
  decoded: [bytes('line\n'), bytes('\n'), bytes('\r\n'), bytes('123456\n'), bytes('\0\r\0\n')],
  oversized: bytes(`ab\n${'c'.repeat(7)}\n`),
  oversizedFrame: bytes('1234567'),
});

describeConformance('DelimiterCodec (CRLFCRLF, kept)', {
  create: () => createDelimiterCodec({ delimiter: '\r\n\r\n', maxFrameLength: 24, includeDelimiter: true }),
  frames: [bytes('GET / HTTP/1.1\r\nHost: a'), bytes(''), bytes('\r\n\r'), bytes('\r\r\n\n')],
  decoded: [bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), bytes('\r\n\r\n'), bytes('\r\n\r\r\n\r\n'), bytes('\r\r\n\n\r\n\r\n')],
  oversized: bytes(`${'h'.repeat(24)}\r\n\r${'h'.repeat(10)}`),
  oversizedFrame: bytes('z'.repeat(25)),
});

describeConformance('DelimiterCodec (self-overlapping "abab")', {
  create: () => createDelimiterCodec({ delimiter: 'abab', maxFrameLength: 10 }),
  frames: [bytes('aba'), bytes('bba'), bytes(''), bytes('ba'), bytes('xxabaxba'), bytes('b'), bytes('abb')],
  oversized: bytes(`${'x'.repeat(10)}aba${'x'.repeat(4)}`),
  oversizedFrame: bytes('0123456789!'),
});

// Only 'E', 'N' and 'D' can end the start of a delimiter: frames ending in each, and in '!', probe
// the shortcut that skips the split-delimiter search when the pending bytes cannot begin one.
describeConformance('DelimiterCodec ("END!", not self-overlapping)', {
  create: () => createDelimiterCodec({ delimiter: 'END!', maxFrameLength: 8 }),
  frames: [bytes('xE'), bytes('!'), bytes('EN'), bytes('END'), bytes(''), bytes('D!E!N!'), bytes('ENEND'), bytes('x!')],
  oversized: bytes(`${'x'.repeat(8)}END${'x'.repeat(4)}`),
  oversizedFrame: bytes('123456789'),
});

for (const lengthFieldLength of [1, 2, 3, 4, 8] as const satisfies readonly LengthFieldLength[]) {
  for (const byteOrder of ['big', 'little'] as const) {
    describeConformance(`LengthFieldCodec (${lengthFieldLength}-byte, ${byteOrder}-endian)`, {
      create: () => createLengthFieldCodec({ lengthFieldLength, byteOrder, maxFrameLength: 200 }),
      frames: [bytes('request'), bytes(''), bytes('x'.repeat(200)), bytes('\x00\x01\x02')],
      oversized: Buffer.concat([fieldOf(lengthFieldLength, byteOrder, 201), bytes('zz')]),
      oversizedFrame: bytes('x'.repeat(201)),
    });
  }
}

describeConformance('LengthFieldCodec (length counts the header)', {
  create: () => createLengthFieldCodec({ lengthFieldLength: 2, lengthIncludesHeader: true, maxFrameLength: 10 }),
  frames: [bytes('hi'), bytes(''), bytes('0123456789')],
  oversized: bytes('\x00\x0d0123456789x'),
  oversizedFrame: bytes('0123456789x'),
  malformed: bytes('\x00\x04ok\x00\x01'),
});

describeConformance('LengthFieldCodec (type byte before the field, whole frames)', {
  create: () =>
    createLengthFieldCodec({ lengthFieldOffset: 1, lengthFieldLength: 2, initialBytesToStrip: 0, maxFrameLength: 12 }),
  frames: [bytes('A\x00\x00hello'), bytes('B\x00\x00'), bytes('C\xff\xff123456789')],
  decoded: [bytes('A\x00\x05hello'), bytes('B\x00\x00'), bytes('C\x00\x09123456789')],
  oversized: bytes('Z\x00\x0a0123456789'),
  oversizedFrame: bytes('C\x00\x000123456789'),
});

describeConformance('LengthFieldCodec (field counts 2 bytes more than follow it)', {
  create: () => createLengthFieldCodec({ lengthFieldLength: 1, lengthAdjustment: -2, maxFrameLength: 6 }),
  frames: [bytes('..'), bytes('data..'), bytes('ab\x00\x01')],
  oversized: bytes('\x09abcdefg'),
  oversizedFrame: bytes('1234567'),
  malformed: bytes('\x04..\x01'),
});

describeConformance('FixedLengthCodec', {
  create: () => createFixedLengthCodec({ frameLength: 5 }),
  frames: [bytes('01234'), bytes('\n\n\n\n\n'), bytes('\x00\x00\x00\x00\x00'), bytes('abcde')],
  oversizedFrame: bytes('012345'),
});

function fieldOf(length: LengthFieldLength, byteOrder: 'big' | 'little', value: number): Buffer {
  const field = Buffer.alloc(length);
  if (length === 8) {
    if (byteOrder === 'big') field.writeBigUInt64BE(BigInt(value));
    else field.writeBigUInt64LE(BigInt(value));
  } else if (byteOrder === 'big') field.writeUIntBE(value, 0, length);
  else field.writeUIntLE(value, 0, length);
  return field;
}
