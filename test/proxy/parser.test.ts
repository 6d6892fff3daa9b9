import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, InvalidOptionError, SwitchboardError } from '../../src/core/errors.ts';
import { DEFAULT_MAX_PROXY_HEADER_BYTES, ProxyHeaderParser, ProxyProtocolError, parseProxyHeader } from '../../src/index.ts';
import { assertEverySplit, failurePoint, feed } from './feed.ts';
import { inet, ipv4Block, relayed, tlv, tlvs, v2 } from './wire.ts';

const V1 = Buffer.from('PROXY TCP4 198.51.100.9 192.0.2.1 40000 25\r\n');
const V1_HEADER = relayed(1, inet('198.51.100.9', 40000), inet('192.0.2.1', 25));
const V2 = v2(0x21, 0x11, Buffer.concat([ipv4Block('198.51.100.9', '192.0.2.1', 40000, 25), tlv(0x05, Buffer.from('id'))]));
const V2_HEADER = relayed(2, inet('198.51.100.9', 40000), inet('192.0.2.1', 25), { tlvs: tlvs({ uniqueId: Buffer.from('id') }) });

describe('ProxyHeaderParser', () => {
  describe('constructor', () => {
    it('defaults to both versions and a 4 KiB maximum', () => {
      assert.equal(DEFAULT_MAX_PROXY_HEADER_BYTES, 4096);
      assert.equal(new ProxyHeaderParser().push(V1).state, 'complete');
      assert.equal(new ProxyHeaderParser().push(V2).state, 'complete');
    });

    it('refuses options outside their range with SWB_ERR_INVALID_OPTION', () => {
      const refuses = (options: unknown, option: string, message: RegExp): void => {
        assert.throws(() => new ProxyHeaderParser(options as never), (error) => {
          assert.ok(error instanceof InvalidOptionError);
          assert.equal(error.code, ErrorCode.INVALID_OPTION);
          assert.equal(error.option, option);
          assert.match(error.message, message);
          return true;
        });
      };
      refuses({ maxHeaderBytes: 15 }, 'maxHeaderBytes', /from 16 to 65551, got 15/);
      refuses({ maxHeaderBytes: 65552 }, 'maxHeaderBytes', /from 16 to 65551/);
      refuses({ maxHeaderBytes: 1.5 }, 'maxHeaderBytes', /integer/);
      refuses({ maxHeaderBytes: '4096' }, 'maxHeaderBytes', /integer/);
      refuses({ versions: [] }, 'versions', /non-empty array of 1 and 2, got an array/);
      refuses({ versions: [3] }, 'versions', /non-empty/);
      refuses({ versions: 'both' }, 'versions', /non-empty/);
      refuses('strict', 'options', /must be an object/);
    });
  });

  describe('#push', () => {
    it('returns partial while the header is incomplete, then the header, how much of the chunk it took, and the rest as a view', () => {
      const parser = new ProxyHeaderParser();
      assert.deepEqual(parser.push(V1.subarray(0, 10)), { state: 'partial' });
      assert.equal(parser.pendingBytes, 10);
      const chunk = Buffer.alloc(V1.length - 10 + 5);
      V1.copy(chunk, 0, 10);
      chunk.write('HELO!', V1.length - 10);
      const result = parser.push(chunk);
      assert.equal(result.state, 'complete');
      if (result.state !== 'complete') return;
      assert.deepEqual(result.header, V1_HEADER);
      assert.equal(result.consumed, V1.length - 10);
      assert.equal(result.rest.toString(), 'HELO!');
      assert.equal(result.rest.buffer, chunk.buffer, 'rest is a view of the chunk, not a copy');
      assert.equal(parser.pendingBytes, 0);
    });

    it('treats every chunk after the header as payload', () => {
      const parser = new ProxyHeaderParser();
      parser.push(V2);
      const later = Buffer.from('more');
      const result = parser.push(later);
      assert.equal(result.state === 'complete' && result.consumed, 0);
      assert.equal(result.state === 'complete' && result.rest, later);
      assert.equal(parser.finish().state, 'complete');
    });

    it('returns the same failure for every call after one', () => {
      const parser = new ProxyHeaderParser();
      const first = parser.push(Buffer.from('GET / HTTP/1.1\r\n'));
      assert.equal(first.state, 'failed');
      assert.equal(parser.push(V1), first);
      assert.equal(parser.finish(), first);
      assert.equal(parser.pendingBytes, 0);
    });

    it('takes a Uint8Array that is not a Buffer, at an offset inside a larger ArrayBuffer', () => {
      const backing = new Uint8Array(V2.length + 64).fill(0xcc);
      backing.set(V2, 32);
      const view = new Uint8Array(backing.buffer, 32, V2.length + 8);
      const result = new ProxyHeaderParser().push(view);
      assert.equal(result.state, 'complete');
      assert.equal(result.state === 'complete' && result.consumed, V2.length);
      assert.deepEqual(result.state === 'complete' && [...result.rest], [0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc]);
    });

    it('neither changes the chunks nor lets the header share their memory', () => {
      const chunk = Buffer.from(V2);
      const result = new ProxyHeaderParser().push(chunk);
      assert.ok(chunk.equals(V2));
      chunk.fill(0);
      assert.deepEqual(result.state === 'complete' && result.header.tlvs.uniqueId, Buffer.from('id'));
    });

    it('fails at the very first byte of a connection that speaks something else', () => {
      const other: [string, Buffer][] = [
        ['HTTP', Buffer.from('GET / HTTP/1.1\r\n')],
        ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])],
        ['SSH', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')],
        ['SMTP from a client', Buffer.from('EHLO x\r\n')],
        ['a NUL byte', Buffer.from([0])],
        ['a lone LF', Buffer.from('\n')],
      ];
      for (const [name, bytes] of other) {
        assert.deepEqual(failurePoint(bytes), { code: ErrorCode.PROXY_HEADER_MISSING, after: 1 }, name);
        assertEverySplit(bytes, { code: ErrorCode.PROXY_HEADER_MISSING });
      }
      assert.deepEqual(failurePoint(Buffer.from('PRI * HTTP/2.0\r\n')), { code: ErrorCode.PROXY_HEADER_MISSING, after: 3 });
      assert.deepEqual(failurePoint(Buffer.from('POST / HTTP/1.1\r\n')), { code: ErrorCode.PROXY_HEADER_MISSING, after: 2 });
      assert.deepEqual(failurePoint(Buffer.from('proxy TCP4')), { code: ErrorCode.PROXY_HEADER_MISSING, after: 1 });
    });

    it('names the first wrong byte in the message, escaped', () => {
      const result = parseProxyHeader(Buffer.from('PRI * HTTP/2.0'));
      assert.equal(result.state === 'failed' && result.error.message, 'PROXY header: byte 3, 0x49 ("I"), is not part of a v1 or v2 signature');
      const nul = parseProxyHeader(Buffer.from([0]));
      assert.equal(nul.state === 'failed' && nul.error.message, 'PROXY header: the first byte, 0x00, is not part of a v1 or v2 signature');
    });

    it('refuses a version left out of `versions` once its signature is complete', () => {
      assert.deepEqual(failurePoint(V1, { versions: [2] }), { code: ErrorCode.PROXY_VERSION_REFUSED, after: 5 });
      assert.deepEqual(failurePoint(V2, { versions: [1] }), { code: ErrorCode.PROXY_VERSION_REFUSED, after: 12 });
      assertEverySplit(V1, { code: ErrorCode.PROXY_VERSION_REFUSED }, { versions: [2] });
      assertEverySplit(V2, { header: V2_HEADER, length: V2.length }, { versions: [2] });
      assert.deepEqual(failurePoint(Buffer.from('GET /'), { versions: [2] }), { code: ErrorCode.PROXY_HEADER_MISSING, after: 1 });
      const refused = parseProxyHeader(V1, { versions: [2] });
      assert.equal(refused.state === 'failed' && refused.error.message, 'PROXY v1 header: this parser accepts only version 2');
    });

    it('never holds more than one header, whatever arrives', () => {
      const junk = Buffer.concat([Buffer.from('PROXY UNKNOWN '), Buffer.alloc(500, 0x41)]);
      const outcome = feed([...junk].map((byte) => Buffer.from([byte])));
      assert.equal(outcome.state === 'failed' && outcome.code, ErrorCode.PROXY_HEADER_TOO_LARGE);
      assert.ok(outcome.maxPending <= 107, `held ${outcome.maxPending}`);
      const big = v2(0x21, 0x11, Buffer.concat([ipv4Block('1.1.1.1', '2.2.2.2', 1, 2), tlv(0xe0, Buffer.alloc(3000))]));
      const pieces = feed([big.subarray(0, 7), big.subarray(7, 900), big.subarray(900)]);
      assert.equal(pieces.state, 'complete');
      assert.ok(pieces.maxPending <= big.length);
    });
  });

  describe('#finish', () => {
    it('reports a stream that ended before any byte as SWB_ERR_PROXY_HEADER_MISSING', () => {
      const result = new ProxyHeaderParser().finish();
      assert.equal(result.state === 'failed' && result.error.code, ErrorCode.PROXY_HEADER_MISSING);
      const afterEmpty = new ProxyHeaderParser();
      assert.equal(afterEmpty.push(Buffer.alloc(0)).state, 'partial');
      assert.equal(afterEmpty.finish().state === 'failed' && (afterEmpty.finish() as { error: ProxyProtocolError }).error.code, ErrorCode.PROXY_HEADER_MISSING);
    });

    it('reports a partial header as SWB_ERR_PROXY_TRUNCATED, naming its version', () => {
      for (const [bytes, version] of [[V1, 1], [V2, 2]] as const) {
        const parser = new ProxyHeaderParser();
        parser.push(bytes.subarray(0, 3));
        const result = parser.finish();
        assert.equal(result.state, 'failed');
        if (result.state !== 'failed') continue;
        assert.equal(result.error.code, ErrorCode.PROXY_TRUNCATED);
        assert.equal(result.error.version, version);
        assert.equal(result.error.message, `PROXY v${version} header: the stream ended after 3 bytes of the header`);
      }
    });
  });
});

describe('parseProxyHeader', () => {
  it('parses a header that lies wholly in the bytes (a datagram) and returns what follows', () => {
    const datagram = Buffer.concat([V2, Buffer.from('query')]);
    const result = parseProxyHeader(datagram);
    assert.equal(result.state, 'complete');
    assert.equal(result.state === 'complete' && result.rest.toString(), 'query');
  });

  it('fails a datagram holding part of a header with SWB_ERR_PROXY_TRUNCATED, an empty one with SWB_ERR_PROXY_HEADER_MISSING', () => {
    assert.equal((parseProxyHeader(V2.subarray(0, 20)) as { error: ProxyProtocolError }).error.code, ErrorCode.PROXY_TRUNCATED);
    assert.equal((parseProxyHeader(Buffer.alloc(0)) as { error: ProxyProtocolError }).error.code, ErrorCode.PROXY_HEADER_MISSING);
  });
});

describe('ProxyProtocolError', () => {
  it('is a SwitchboardError with a stable code, its name and the version it concerns', () => {
    const result = parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n'));
    assert.equal(result.state, 'failed');
    if (result.state !== 'failed') return;
    assert.ok(result.error instanceof SwitchboardError);
    assert.equal(result.error.name, 'ProxyProtocolError');
    assert.equal(result.error.code, 'SWB_ERR_PROXY_BAD_HEADER');
    assert.equal(result.error.version, 1);
    assert.equal(result.error.message, 'PROXY v1 header: destination port "02" is not a decimal from 0 to 65535 without leading zeros');
  });

  it('has a code for each way a header fails, each one in ErrorCode', () => {
    const codes = Object.values(ErrorCode).filter((code) => code.startsWith('SWB_ERR_PROXY_'));
    assert.deepEqual(codes.sort(), [
      'SWB_ERR_PROXY_BAD_HEADER',
      'SWB_ERR_PROXY_CHECKSUM_MISMATCH',
      'SWB_ERR_PROXY_HEADER_MISSING',
      'SWB_ERR_PROXY_HEADER_TOO_LARGE',
      'SWB_ERR_PROXY_TIMEOUT', // the listener's header deadline, not the parser's
      'SWB_ERR_PROXY_TRUNCATED',
      'SWB_ERR_PROXY_VERSION_REFUSED',
    ]);
  });
});
