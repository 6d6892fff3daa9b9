import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLineCodec, DEFAULT_MAX_LINE_LENGTH } from '../../src/codecs/index.ts';
import { InvalidOptionError } from '../../src/core/errors.ts';
import { concatEncoded, decodeAll, feed, isCodecError } from './conformance.ts';
import { countScans } from './scan-counter.ts';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const chunks = (...texts: string[]): Buffer[] => texts.map(bytes);

describe('createLineCodec', () => {
  describe('options', () => {
    for (const value of [-1, 0, 1.5, Number.NaN, '8']) {
      it(`throws SWB_ERR_INVALID_OPTION when maxLineLength is ${String(value)}`, () => {
        assert.throws(() => createLineCodec({ maxLineLength: value as number }), {
          name: 'InvalidOptionError',
          code: 'SWB_ERR_INVALID_OPTION',
          message: `\`maxLineLength\` must be a positive integer, got ${typeof value === 'string' ? `"${value}"` : String(value)}`,
        });
      });
    }

    it('throws SWB_ERR_INVALID_OPTION when encoding is not ASCII-compatible', () => {
      assert.throws(() => createLineCodec({ encoding: 'utf16le' as 'utf8' }), {
        code: 'SWB_ERR_INVALID_OPTION',
        message: '`encoding` must be one of "utf8", "latin1", "ascii", null, got "utf16le"',
      });
    });

    it('throws SWB_ERR_INVALID_OPTION when newline, allowUnterminatedLine or the options object are wrong', () => {
      assert.throws(() => createLineCodec({ newline: '\r' as '\n' }), { message: '`newline` must be one of "\\n", "\\r\\n", got "\\r"' });
      assert.throws(() => createLineCodec({ allowUnterminatedLine: 1 as unknown as boolean }), {
        message: '`allowUnterminatedLine` must be a boolean, got 1',
      });
      assert.throws(() => createLineCodec(5 as never), (error) => error instanceof InvalidOptionError && error.option === 'options');
    });

    it('accepts lines up to 8 KiB by default', () => {
      assert.equal(DEFAULT_MAX_LINE_LENGTH, 8192);
      const line = 'x'.repeat(8192);
      assert.deepEqual(decodeAll(createLineCodec(), [bytes(`${line}\n`)]), [line]);
      assert.throws(() => decodeAll(createLineCodec(), [bytes(`${line}x\n`)]), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });
  });

  describe('#decode', () => {
    it('splits on LF and on CRLF, dropping the CR of a CRLF', () => {
      assert.deepEqual(decodeAll(createLineCodec(), chunks('a\nb\r\nc\n')), ['a', 'b', 'c']);
    });

    it('keeps a CR that is not just before the LF', () => {
      assert.deepEqual(decodeAll(createLineCodec(), chunks('a\rb\n\r\r\n\rx\n')), ['a\rb', '\r', '\rx']);
    });

    it('emits empty lines for LF and CRLF alone', () => {
      assert.deepEqual(decodeAll(createLineCodec(), chunks('\n\r\n\n')), ['', '', '']);
    });

    it('drops the CR of a CRLF split across chunks', () => {
      assert.deepEqual(decodeAll(createLineCodec(), chunks('abc\r', '\nxyz\n', '\r', '\n')), ['abc', 'xyz', '']);
    });

    it('keeps a CR that ends a chunk when the next chunk does not begin with LF', () => {
      assert.deepEqual(decodeAll(createLineCodec(), chunks('ab\r', 'c\n')), ['ab\rc']);
    });

    it('decodes a UTF-8 character split across chunks', () => {
      assert.deepEqual(decodeAll(createLineCodec(), chunks('caf', '\xc3', '\xa9 \xe2\x82', '\xac\n')), ['café €']);
    });

    it('decodes latin1 and ascii lines when asked', () => {
      assert.deepEqual(decodeAll(createLineCodec({ encoding: 'latin1' }), chunks('caf\xe9\n')), ['café']);
      assert.deepEqual(decodeAll(createLineCodec({ encoding: 'ascii' }), chunks('plain\n')), ['plain']);
    });

    it('emits Buffers that are views of the chunk when encoding is null', () => {
      const chunk = Buffer.from('one\r\ntwo\n');
      const lines = feed(createLineCodec({ encoding: null }), [chunk]);
      assert.deepEqual(lines, [bytes('one'), bytes('two')]);
      assert.ok(lines.every((line) => line.buffer === chunk.buffer));
    });

    it('fails with SWB_ERR_BAD_FRAME when a line is not valid UTF-8', () => {
      const codec = createLineCodec();
      const lines: string[] = [];
      assert.throws(() => codec.decode(bytes('fine\nbad \xc3(\nnever\n'), (line) => lines.push(line)), {
        code: 'SWB_ERR_BAD_FRAME',
        message: 'line is not valid UTF-8',
      });
      assert.deepEqual(lines, ['fine']);
    });

    it('accepts a line holding U+FFFD itself, and rejects encoded surrogates and overlong forms', () => {
      assert.deepEqual(decodeAll(createLineCodec(), chunks('a\xef\xbf\xbdb\n', 'c\xef\xbf', '\xbd\n')), ['a\ufffdb', 'c\ufffd']);
      for (const bad of ['\xed\xa0\x80\n', '\xc0\x80\n', '\xf4\x90\x80\x80\n', 'x\xef\xbf\xbd\xff\n']) {
        assert.throws(() => decodeAll(createLineCodec(), chunks(bad)), isCodecError('SWB_ERR_BAD_FRAME'), JSON.stringify(bad));
        assert.throws(() => decodeAll(createLineCodec(), chunks(bad.slice(0, 2), bad.slice(2))), isCodecError('SWB_ERR_BAD_FRAME'), JSON.stringify(bad));
      }
    });

    it('fails with SWB_ERR_FRAME_TOO_LARGE as soon as more than maxLineLength bytes are pending', () => {
      const codec = createLineCodec({ maxLineLength: 4 });
      codec.decode(bytes('abcd'), () => {});
      assert.equal(codec.pendingBytes, 4);
      assert.throws(() => codec.decode(bytes('e'), () => {}), {
        name: 'CodecError',
        code: 'SWB_ERR_FRAME_TOO_LARGE',
        message: 'line longer than maxLineLength (4 bytes)',
      });
    });

    it('holds maxLineLength bytes and a CR, which may begin a CRLF', () => {
      const codec = createLineCodec({ maxLineLength: 4 });
      assert.deepEqual(feed(codec, chunks('abcd\r', '\n')), ['abcd']);
      assert.throws(() => feed(codec, chunks('abcd\r', 'x')), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });

    it('counts a line without its LF or CRLF against maxLineLength', () => {
      assert.deepEqual(decodeAll(createLineCodec({ maxLineLength: 4 }), chunks('abcd\r\nwxyz\n')), ['abcd', 'wxyz']);
      assert.throws(() => decodeAll(createLineCodec({ maxLineLength: 4 }), chunks('abcde\n')), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
      assert.throws(() => decodeAll(createLineCodec({ maxLineLength: 4 }), chunks('ab', 'cde\n')), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });

    for (const encoding of [null, 'utf8'] as const) {
      it(`scans each byte at most twice, without concatenating, when a long line arrives byte by byte (encoding ${encoding})`, () => {
        const length = 8000;
        const codec = createLineCodec({ encoding, maxLineLength: length });
        const line = Buffer.alloc(length, 0x61);
        const lines: (string | Buffer)[] = [];
        const count = countScans(() => {
          for (let i = 0; i < length; i++) codec.decode(line.subarray(i, i + 1), (frame) => lines.push(frame));
          codec.decode(bytes('\n'), (frame) => lines.push(frame));
        });
        assert.deepEqual(lines, [encoding === null ? line : line.toString()]);
        assert.ok(count.scannedBytes <= 2 * (length + 1), `scanned ${count.scannedBytes} bytes`);
        assert.equal(count.concatCalls, 0);
      });
    }
  });

  describe('#encode', () => {
    it('appends LF by default and CRLF when newline is "\\r\\n"', () => {
      assert.deepEqual(createLineCodec().encode('PING'), bytes('PING\n'));
      assert.deepEqual(createLineCodec({ newline: '\r\n' }).encode('PING'), bytes('PING\r\n'));
    });

    it('returns the bytes given and the newline, without copying', () => {
      const line = bytes('raw');
      const codec = createLineCodec({ encoding: null });
      const encoded = codec.encode(line);
      assert.ok(Array.isArray(encoded));
      assert.equal(encoded[0], line);
      assert.deepEqual(encoded[1], bytes('\n'));
      assert.equal((codec.encode(bytes('again')) as Buffer[])[1], encoded[1], 'one newline Buffer, made once');
    });

    it('encodes strings in the codec encoding, and as UTF-8 when encoding is null', () => {
      assert.deepEqual(createLineCodec({ encoding: 'latin1' }).encode('café'), bytes('caf\xe9\n'));
      assert.deepEqual(createLineCodec({ encoding: null }).encode('café'), bytes('caf\xc3\xa9\n'));
    });

    it('fails with SWB_ERR_BAD_FRAME for a line that would not decode to itself', () => {
      const codec = createLineCodec();
      assert.throws(() => codec.encode('two\nlines'), { code: 'SWB_ERR_BAD_FRAME', message: 'cannot encode a line that contains a line feed' });
      assert.throws(() => codec.encode('ends in CR\r'), {
        code: 'SWB_ERR_BAD_FRAME',
        message: 'cannot encode a line that ends in a carriage return (it would be read as CRLF)',
      });
      assert.throws(() => codec.encode(bytes('\xff')), { code: 'SWB_ERR_BAD_FRAME', message: 'cannot encode a line that is not valid UTF-8' });
      assert.deepEqual(concatEncoded(codec.encode('a\rb')), bytes('a\rb\n'));
    });

    it('checks the line and not its newline when encoding a string with CRLF', () => {
      const codec = createLineCodec({ newline: '\r\n' });
      assert.deepEqual(codec.encode(''), bytes('\r\n'));
      assert.deepEqual(codec.encode('\r.'), bytes('\r.\r\n'));
      for (const line of ['\n', 'a\nb', 'a\n', 'a\r', '\r']) {
        assert.throws(() => codec.encode(line), isCodecError('SWB_ERR_BAD_FRAME'), JSON.stringify(line));
      }
    });

    it('fails with SWB_ERR_BAD_FRAME for a string whose latin1 or ascii bytes hold a line feed', () => {
      // Both encodings keep the low byte of each UTF-16 unit: U+010A is written as 0x0A.
      for (const encoding of ['latin1', 'ascii'] as const) {
        assert.throws(() => createLineCodec({ encoding }).encode('a\u010ab'), {
          code: 'SWB_ERR_BAD_FRAME',
          message: 'cannot encode a line that contains a line feed',
        });
        assert.throws(() => createLineCodec({ encoding }).encode('a\u010d'), isCodecError('SWB_ERR_BAD_FRAME'));
      }
    });

    it('fails with SWB_ERR_FRAME_TOO_LARGE for a line longer than maxLineLength in bytes', () => {
      const codec = createLineCodec({ maxLineLength: 4 });
      assert.deepEqual(codec.encode('€a'), bytes('\xe2\x82\xaca\n'));
      assert.throws(() => codec.encode('€ab'), isCodecError('SWB_ERR_FRAME_TOO_LARGE'));
    });

    it('throws a TypeError for a frame that is neither a string nor bytes', () => {
      assert.throws(() => createLineCodec().encode(42 as unknown as string), TypeError);
    });
  });

  describe('#finish', () => {
    it('fails with SWB_ERR_BAD_FRAME when the stream ends inside a line', () => {
      const codec = createLineCodec();
      codec.decode(bytes('done\npart'), () => {});
      assert.throws(() => codec.finish(() => {}), { code: 'SWB_ERR_BAD_FRAME', message: 'stream ended inside a line (4 bytes pending)' });
    });

    it('emits the unterminated last line, less a final CR, when allowUnterminatedLine is set', () => {
      assert.deepEqual(decodeAll(createLineCodec({ allowUnterminatedLine: true }), chunks('a\nlast')), ['a', 'last']);
      assert.deepEqual(decodeAll(createLineCodec({ allowUnterminatedLine: true }), chunks('a\nlast\r')), ['a', 'last']);
      assert.deepEqual(decodeAll(createLineCodec({ allowUnterminatedLine: true }), chunks('a\n')), ['a']);
    });

    it('checks the unterminated last line like any other', () => {
      assert.throws(() => decodeAll(createLineCodec({ allowUnterminatedLine: true }), chunks('\xff')), isCodecError('SWB_ERR_BAD_FRAME'));
    });
  });
});
