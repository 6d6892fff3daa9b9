import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertEverySplit, failurePoint, feed } from './feed.ts';
import {
  CRC32C_PLACEHOLDER,
  SIGNATURE,
  inet,
  ipv4Block,
  ipv6Block,
  relayed,
  sealCrc32c,
  ssl,
  sslValue,
  tlv,
  tlvs,
  unattributed,
  unixBlock,
  v2,
} from './wire.ts';

const PROXY = 0x21;
const LOCAL = 0x20;
const TCP4 = 0x11;
const PAYLOAD = Buffer.from('\x16\x03\x01 first payload bytes, GET / HTTP/1.1\r\n', 'latin1');
const LOOPBACK = ipv4Block('127.0.0.1', '127.0.0.1', 56208, 18504);
const HAPROXY_PEERS = relayed(2, inet('127.0.0.1', 56208), inet('127.0.0.1', 18504));
const UNIQUE_ID = Buffer.from('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'.slice(0, 41));

/** A TCP4 PROXY header carrying `tlvBytes` after the loopback addresses. */
const withTlvs = (...tlvBytes: Buffer[]): Buffer => v2(PROXY, TCP4, Buffer.concat([LOOPBACK, ...tlvBytes]));
/** The same with a CRC32C TLV first, sealed. */
const sealed = (...tlvBytes: Buffer[]): Buffer => sealCrc32c(withTlvs(CRC32C_PLACEHOLDER, ...tlvBytes), 16 + 12 + 3);

describe('PROXY v2', () => {
  describe('what HAProxy 2.6 sends', () => {
    it('parses the 165-byte header of a TLS front end (send-proxy-v2 with ssl, cert-*, authority, crc32c, unique-id)', () => {
      const header = sealed(
        tlv(0x01, 'h2'),
        tlv(0x02, 'sb.test'),
        tlv(0x05, UNIQUE_ID),
        tlv(0x20, sslValue(1, 0, tlv(0x21, 'TLSv1.3'), tlv(0x25, 'EC256'), tlv(0x24, 'ecdsa-with-SHA256'), tlv(0x23, 'TLS_AES_256_GCM_SHA384'))),
      );
      assert.equal(header.length, 165);
      const expected = {
        ...HAPROXY_PEERS,
        tlvs: tlvs({
          alpn: 'h2',
          authority: 'sb.test',
          crc32c: true,
          uniqueId: UNIQUE_ID,
          ssl: ssl(1, 0, { version: 'TLSv1.3', keyAlg: 'EC256', sigAlg: 'ecdsa-with-SHA256', cipher: 'TLS_AES_256_GCM_SHA384' }),
        }),
      };
      assertEverySplit(Buffer.concat([header, PAYLOAD]), { header: expected, length: 165 });
    });

    it('parses the 87-byte header of a plain front end (CRC32C, UNIQUE_ID, SSL with client 0)', () => {
      const header = sealed(tlv(0x05, UNIQUE_ID), tlv(0x20, sslValue(0, 0)));
      assert.equal(header.length, 87);
      const expected = { ...HAPROXY_PEERS, tlvs: tlvs({ crc32c: true, uniqueId: UNIQUE_ID, ssl: ssl(0, 0) }) };
      assertEverySplit(Buffer.concat([header, PAYLOAD]), { header: expected, length: 87 });
    });

    it('reports a client certificate that HAProxy verified, with its CN', () => {
      const header = sealed(tlv(0x20, sslValue(0x07, 0, tlv(0x21, 'TLSv1.3'), tlv(0x22, 'client.sb.test'))));
      const result = feed([header]);
      assert.equal(result.state, 'complete');
      const info = result.state === 'complete' ? result.header.tlvs.ssl : undefined;
      assert.deepEqual(info, ssl(0x07, 0, { version: 'TLSv1.3', cn: 'client.sb.test' }));
      assert.equal(info?.verified, true);
      assert.equal(info?.certificateOnConnection, true);
    });

    it('does not call a certificate verified when verify is non-zero', () => {
      const result = feed([sealed(tlv(0x20, sslValue(0x03, 20)))]);
      assert.equal(result.state === 'complete' && result.header.tlvs.ssl?.verified, false);
    });
  });

  describe('families and commands', () => {
    it('parses TCP over IPv6', () => {
      const block = ipv6Block('20010db8000000000000000000000001', '00000000000000000000ffffc0000201', 40000, 443);
      const expected = relayed(2, inet('2001:db8::1', 40000), inet('::ffff:192.0.2.1', 443));
      assertEverySplit(Buffer.concat([v2(PROXY, 0x21, block), PAYLOAD]), { header: expected, length: 52 });
    });

    it('parses UDP over IPv4 and IPv6 as the dgram transport', () => {
      assertEverySplit(v2(PROXY, 0x12, ipv4Block('198.51.100.7', '192.0.2.53', 5353, 53)), {
        header: relayed(2, inet('198.51.100.7', 5353), inet('192.0.2.53', 53), { transport: 'dgram' }),
        length: 28,
      });
      const block = ipv6Block('fe800000000000000000000000000001', 'ff020000000000000000000000000001', 1, 2);
      assertEverySplit(v2(PROXY, 0x22, block), { header: relayed(2, inet('fe80::1', 1), inet('ff02::1', 2), { transport: 'dgram' }), length: 52 });
    });

    it('parses UNIX stream and datagram paths: a path, an unnamed socket, the abstract namespace', () => {
      const named = unixBlock('/run/client.sock', '/run/sw\u00e9itch.sock');
      assertEverySplit(v2(PROXY, 0x31, named), {
        header: { ...unattributed(2, 'proxy'), family: 'unix', transport: 'stream', source: { family: 'unix', path: '/run/client.sock' }, destination: { family: 'unix', path: '/run/sw\u00e9itch.sock' } },
        length: 232,
      });
      const abstract = unixBlock(Buffer.alloc(0), Buffer.from('\0sb\0x', 'latin1'));
      assertEverySplit(v2(PROXY, 0x32, abstract), {
        header: { ...unattributed(2, 'proxy'), family: 'unix', transport: 'dgram', source: { family: 'unix', path: '' }, destination: { family: 'unix', path: '\0sb\0x' } },
        length: 232,
      });
    });

    it('ignores what follows the NUL that ends a UNIX path', () => {
      const block = unixBlock(Buffer.from('/a\0garbage\xff', 'latin1'), '/b');
      const result = feed([v2(PROXY, 0x31, block)]);
      assert.deepEqual(result.state === 'complete' && result.header.source, { family: 'unix', path: '/a' });
    });

    it('reads LOCAL (a health check) as "use the real endpoints", with no addresses', () => {
      assertEverySplit(Buffer.concat([v2(LOCAL, 0x00, Buffer.alloc(0)), PAYLOAD]), { header: unattributed(2, 'local'), length: 16 });
    });

    it('skips the dummy addresses of a LOCAL header (as AWS NLB sends) and still reads its TLVs', () => {
      const dummy = v2(LOCAL, TCP4, ipv4Block('198.18.0.1', '198.18.0.2', 1, 2));
      assertEverySplit(Buffer.concat([dummy, PAYLOAD]), { header: unattributed(2, 'local'), length: 28 });
      const withCrc = sealCrc32c(v2(LOCAL, TCP4, Buffer.concat([ipv4Block('198.18.0.1', '198.18.0.2', 1, 2), CRC32C_PLACEHOLDER])), 31);
      assertEverySplit(withCrc, { header: unattributed(2, 'local', { tlvs: tlvs({ crc32c: true }) }), length: 35 });
    });

    it('accepts LOCAL with a length shorter than its family\'s addresses, skipping those bytes', () => {
      assertEverySplit(Buffer.concat([v2(LOCAL, 0x21, Buffer.from([1, 2, 3])), PAYLOAD]), { header: unattributed(2, 'local'), length: 19 });
    });

    it('reads PROXY with the UNSPEC family as "use the real endpoints", TLVs still read', () => {
      assertEverySplit(v2(PROXY, 0x00, Buffer.alloc(0)), { header: unattributed(2, 'proxy'), length: 16 });
      assertEverySplit(v2(PROXY, 0x00, tlv(0x02, 'example.net')), { header: unattributed(2, 'proxy', { tlvs: tlvs({ authority: 'example.net' }) }), length: 30 });
    });

    it('honours the length: bytes past the addresses are TLVs, bytes past the length are payload', () => {
      const header = withTlvs(tlv(0x04, Buffer.alloc(7)));
      const next = v2(PROXY, TCP4, ipv4Block('9.9.9.9', '9.9.9.9', 9, 9));
      assertEverySplit(Buffer.concat([header, next]), { header: HAPROXY_PEERS, length: header.length });
    });

    for (const [name, family, addressLength] of [['TCP4', 0x11, 12], ['UDP6', 0x22, 36], ['UNIX', 0x31, 216]] as const) {
      it(`rejects a PROXY ${name} header whose length (${addressLength - 1}) cannot hold its addresses`, () => {
        const stream = v2(PROXY, family, Buffer.alloc(addressLength - 1));
        assertEverySplit(stream, { code: 'SWB_ERR_PROXY_BAD_HEADER' });
        assert.equal(failurePoint(stream).after, 16);
      });
    }
  });

  describe('the fixed part', () => {
    it('rejects a version other than 2 at byte 13', () => {
      for (const versionCommand of [0x01, 0x11, 0x31, 0xf1, 0x00]) {
        const stream = v2(versionCommand, TCP4, LOOPBACK);
        assertEverySplit(stream, { code: 'SWB_ERR_PROXY_BAD_HEADER' });
        assert.equal(failurePoint(stream).after, 13);
      }
    });

    it('rejects a command other than LOCAL or PROXY at byte 13', () => {
      for (let command = 2; command <= 15; command++) {
        assert.deepEqual(failurePoint(v2(0x20 | command, TCP4, LOOPBACK)), { code: 'SWB_ERR_PROXY_BAD_HEADER', after: 13 });
      }
    });

    it('rejects every undefined family and transport byte at byte 14, for PROXY and LOCAL alike', () => {
      const defined = new Set([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32]);
      for (let family = 0; family < 256; family++) {
        if (defined.has(family)) continue;
        assert.deepEqual(failurePoint(v2(PROXY, family, LOOPBACK)), { code: 'SWB_ERR_PROXY_BAD_HEADER', after: 14 }, `0x${family.toString(16)}`);
        assert.deepEqual(failurePoint(v2(LOCAL, family, LOOPBACK)), { code: 'SWB_ERR_PROXY_BAD_HEADER', after: 14 }, `LOCAL 0x${family.toString(16)}`);
      }
    });

    it('detects a stream that is not a v2 header at the first byte that differs from the signature', () => {
      for (let index = 1; index < SIGNATURE.length; index++) {
        const stream = Buffer.from(v2(PROXY, TCP4, LOOPBACK));
        stream[index] ^= 0x40;
        assert.deepEqual(failurePoint(stream), { code: 'SWB_ERR_PROXY_HEADER_MISSING', after: index + 1 }, `byte ${index}`);
        assertEverySplit(stream, { code: 'SWB_ERR_PROXY_HEADER_MISSING' });
      }
    });

    it('rejects a header longer than maxHeaderBytes when its length field arrives, holding no more than 16 bytes', () => {
      const announced = v2(PROXY, TCP4, Buffer.alloc(64 * 1024 - 1));
      assert.deepEqual(failurePoint(announced.subarray(0, 64)), { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE', after: 16 });
      const whole = feed([announced]);
      assert.equal(whole.state === 'failed' && whole.code, 'SWB_ERR_PROXY_HEADER_TOO_LARGE');
      assert.equal(whole.maxPending, 0, 'a failing first chunk is never copied');
      const bytewise = feed([...announced.subarray(0, 100)].map((byte) => Buffer.from([byte])));
      assert.ok(bytewise.maxPending <= 15, `held ${bytewise.maxPending}`);
    });

    it('accepts a header of exactly maxHeaderBytes and rejects one byte more', () => {
      const exact = withTlvs(tlv(0x04, Buffer.alloc(4096 - 16 - 12 - 3)));
      assert.equal(exact.length, 4096);
      assertEverySplit(exact, { header: HAPROXY_PEERS, length: 4096 });
      assertEverySplit(withTlvs(tlv(0x04, Buffer.alloc(4096 - 16 - 12 - 2))), { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE' });
      const small = withTlvs(tlv(0x04, Buffer.alloc(50)));
      assertEverySplit(small, { code: 'SWB_ERR_PROXY_HEADER_TOO_LARGE' }, { maxHeaderBytes: small.length - 1 });
    });

    it('accepts the largest header the length field allows when maxHeaderBytes is raised to 65551', () => {
      const largest = withTlvs(tlv(0xe0, Buffer.alloc(0xffff - 12 - 3, 0x5a)));
      assert.equal(largest.length, 65551);
      const result = feed([largest.subarray(0, 30000), largest.subarray(30000)], { maxHeaderBytes: 65551 });
      assert.equal(result.state, 'complete');
      assert.equal(result.state === 'complete' && result.header.tlvs.unknown[0]!.value.length, 0xffff - 15);
    });

    it('reports a header cut short as SWB_ERR_PROXY_TRUNCATED, wherever it is cut', () => {
      const header = sealed(tlv(0x01, 'h2'), tlv(0x20, sslValue(1, 0, tlv(0x21, 'TLSv1.2'))));
      for (let length = 1; length < header.length; length++) {
        const outcome = feed([header.subarray(0, length)]);
        assert.equal(outcome.state === 'failed' && outcome.code, 'SWB_ERR_PROXY_TRUNCATED', `cut at ${length}`);
      }
    });
  });

  describe('TLVs', () => {
    it('reads ALPN as bytes, AUTHORITY as UTF-8, NETNS, and a UNIQUE_ID of 0 and of 128 bytes', () => {
      const header = withTlvs(tlv(0x01, Buffer.from([0x68, 0x32, 0xff])), tlv(0x02, 'b\u00fccher.example'), tlv(0x30, 'blue'), tlv(0x05, Buffer.alloc(128, 1)));
      assertEverySplit(header, {
        header: { ...HAPROXY_PEERS, tlvs: tlvs({ alpn: 'h2\u00ff', authority: 'b\u00fccher.example', netns: 'blue', uniqueId: Buffer.alloc(128, 1) }) },
        length: header.length,
      });
      const empty = feed([withTlvs(tlv(0x05, Buffer.alloc(0)))]);
      assert.deepEqual(empty.state === 'complete' && empty.header.tlvs.uniqueId, Buffer.alloc(0));
    });

    it('skips NOOP TLVs of any length, wherever they are', () => {
      const header = withTlvs(tlv(0x04, Buffer.alloc(0)), tlv(0x01, 'h2'), tlv(0x04, Buffer.alloc(40, 0xee)), tlv(0x04, Buffer.alloc(0)));
      assertEverySplit(header, { header: { ...HAPROXY_PEERS, tlvs: tlvs({ alpn: 'h2' }) }, length: header.length });
    });

    it('keeps TLVs of other types raw and in order: application, experimental, future, unassigned, SSL sub-types', () => {
      const raw = [
        { type: 0xe0, value: Buffer.from('relay-7') },
        { type: 0x06, value: Buffer.alloc(0) },
        { type: 0xf0, value: Buffer.from([1, 2, 3]) },
        { type: 0xe0, value: Buffer.from('again') },
        { type: 0x21, value: Buffer.from('TLSv1.3') },
        { type: 0xff, value: Buffer.alloc(9, 0xff) },
      ];
      const header = withTlvs(...raw.map(({ type, value }) => tlv(type, value)));
      assertEverySplit(header, { header: { ...HAPROXY_PEERS, tlvs: tlvs({ unknown: raw }) }, length: header.length });
    });

    it('keeps unknown SSL sub-TLVs raw', () => {
      const header = withTlvs(tlv(0x20, sslValue(1, 0, tlv(0x26, 'future'), tlv(0x23, 'AES128-SHA'))));
      const result = feed([header]);
      assert.deepEqual(result.state === 'complete' && result.header.tlvs.ssl, ssl(1, 0, { cipher: 'AES128-SHA', unknown: [{ type: 0x26, value: Buffer.from('future') }] }));
    });

    it('rejects a CRC32C that does not match, wherever the header was changed', () => {
      const good = sealed(tlv(0x01, 'h2'), tlv(0x02, 'sb.test'));
      assertEverySplit(good, { header: { ...HAPROXY_PEERS, tlvs: tlvs({ crc32c: true, alpn: 'h2', authority: 'sb.test' }) }, length: good.length });
      for (const index of [16, 19, 27, 31, 34, good.length - 1]) {
        const changed = Buffer.from(good);
        changed[index] ^= 0x01;
        assertEverySplit(changed, { code: 'SWB_ERR_PROXY_CHECKSUM_MISMATCH' });
      }
    });

    it('rejects a CRC32C mismatch on a LOCAL header too', () => {
      const header = sealCrc32c(v2(LOCAL, 0x00, CRC32C_PLACEHOLDER), 19);
      header[20] ^= 0x80;
      assertEverySplit(header, { code: 'SWB_ERR_PROXY_CHECKSUM_MISMATCH' });
    });

    const malformed: [string, Buffer][] = [
      ['one stray byte after the last TLV', withTlvs(tlv(0x01, 'h2'), Buffer.from([0x04]))],
      ['two stray bytes after the addresses', withTlvs(Buffer.from([0x04, 0x00]))],
      ['a TLV running past the length', v2(PROXY, TCP4, Buffer.concat([LOOPBACK, tlv(0x02, 'sb.test').subarray(0, 8)]))],
      ['a CRC32C TLV of 3 bytes', withTlvs(tlv(0x03, Buffer.alloc(3)))],
      ['a CRC32C TLV of 5 bytes', withTlvs(tlv(0x03, Buffer.alloc(5)))],
      ['two CRC32C TLVs', sealCrc32c(withTlvs(CRC32C_PLACEHOLDER, CRC32C_PLACEHOLDER), 31)],
      ['two ALPN TLVs', withTlvs(tlv(0x01, 'h2'), tlv(0x01, 'http/1.1'))],
      ['two AUTHORITY TLVs', withTlvs(tlv(0x02, 'a.test'), tlv(0x02, 'b.test'))],
      ['two UNIQUE_ID TLVs', withTlvs(tlv(0x05, 'a'), tlv(0x05, 'b'))],
      ['two SSL TLVs', withTlvs(tlv(0x20, sslValue(1, 0)), tlv(0x20, sslValue(1, 0)))],
      ['two NETNS TLVs', withTlvs(tlv(0x30, 'a'), tlv(0x30, 'b'))],
      ['a UNIQUE_ID of 129 bytes', withTlvs(tlv(0x05, Buffer.alloc(129)))],
      ['an SSL TLV of 4 bytes', withTlvs(tlv(0x20, Buffer.alloc(4)))],
      ['an SSL sub-TLV running past the SSL TLV', withTlvs(tlv(0x20, Buffer.concat([sslValue(1, 0), tlv(0x21, 'TLSv1.3').subarray(0, 6)])))],
      ['a stray byte after the SSL sub-TLVs', withTlvs(tlv(0x20, Buffer.concat([sslValue(1, 0, tlv(0x21, 'TLSv1.3')), Buffer.from([0x22])])))],
      ['two SSL_VERSION sub-TLVs', withTlvs(tlv(0x20, sslValue(1, 0, tlv(0x21, 'TLSv1.3'), tlv(0x21, 'TLSv1.2'))))],
      ['two SSL_CN sub-TLVs', withTlvs(tlv(0x20, sslValue(7, 0, tlv(0x22, 'a'), tlv(0x22, 'b'))))],
      ['an AUTHORITY that is not UTF-8', withTlvs(tlv(0x02, Buffer.from([0x73, 0xc3, 0x28])))],
      ['an SSL_CN that is not UTF-8', withTlvs(tlv(0x20, sslValue(7, 0, tlv(0x22, Buffer.from([0xff])))))],
      ['an SSL_CIPHER that is not US-ASCII', withTlvs(tlv(0x20, sslValue(1, 0, tlv(0x23, Buffer.from([0x41, 0x80])))))],
      ['a NETNS that is not US-ASCII', withTlvs(tlv(0x30, Buffer.from('n\u00e9t', 'utf8')))],
      ['a UNIX path that is not UTF-8', v2(PROXY, 0x31, unixBlock(Buffer.from([0x2f, 0xff]), '/b'))],
      ['a malformed TLV after a LOCAL header\'s addresses', v2(LOCAL, TCP4, Buffer.concat([LOOPBACK, Buffer.from([0x01, 0x00])]))],
    ];
    for (const [title, stream] of malformed) {
      it(`rejects ${title} with SWB_ERR_PROXY_BAD_HEADER`, () => {
        assertEverySplit(Buffer.concat([stream, PAYLOAD]), { code: 'SWB_ERR_PROXY_BAD_HEADER' });
      });
    }
  });
});
