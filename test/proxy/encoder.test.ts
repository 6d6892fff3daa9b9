import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/core/errors.ts';
import { encodeProxyHeader, parseProxyHeader } from '../../src/index.ts';
import type { ProxyHeader, ProxyHeaderInit } from '../../src/index.ts';
import { CRC32C_PLACEHOLDER, inet, ipv4Block, ipv6Block, relayed, sealCrc32c, ssl, sslValue, tlv, tlvs, unattributed, unixBlock, v2 } from './wire.ts';

const v4 = { source: { address: '203.0.113.7', port: 51000 }, destination: { address: '192.0.2.1', port: 443 } };
const v6 = { source: { address: '2001:DB8:0:0::7', port: 51000 }, destination: { address: '::ffff:192.0.2.1', port: 443 } };

/** Parses `bytes` wholly, as the receiver would, and returns the header. */
function parse(bytes: Buffer): ProxyHeader {
  const result = parseProxyHeader(bytes, { maxHeaderBytes: 65551 });
  assert.equal(result.state, 'complete', result.state === 'failed' ? result.error.message : '');
  assert.equal(result.state === 'complete' && result.rest.length, 0, 'the header is all of it');
  return (result as { header: ProxyHeader }).header;
}

function refuses(init: unknown, option: string, message: RegExp): void {
  assert.throws(() => encodeProxyHeader(init as ProxyHeaderInit), (error) => {
    assert.ok(error instanceof InvalidOptionError, String(error));
    assert.equal(error.code, 'SWB_ERR_INVALID_OPTION');
    assert.equal(error.option, option);
    assert.match(error.message, message);
    return true;
  });
}

describe('encodeProxyHeader', () => {
  describe('version 1', () => {
    it('writes TCP4, TCP6 (addresses as Node writes them) and UNKNOWN lines', () => {
      assert.equal(encodeProxyHeader({ version: 1, ...v4 }).toString('latin1'), 'PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n');
      assert.equal(encodeProxyHeader({ version: 1, ...v6 }).toString('latin1'), 'PROXY TCP6 2001:db8::7 ::ffff:192.0.2.1 51000 443\r\n');
      assert.equal(encodeProxyHeader({ version: 1 }).toString('latin1'), 'PROXY UNKNOWN\r\n');
    });

    it('re-encodes a parsed line to the same bytes', () => {
      const line = Buffer.from('PROXY TCP4 127.0.0.1 127.0.0.1 56208 18504\r\n');
      assert.ok(encodeProxyHeader(parse(line)).equals(line));
    });
  });

  describe('version 2', () => {
    it('writes the exact bytes of LOCAL, TCP4, TCP6, UDP and UNIX headers', () => {
      assert.ok(encodeProxyHeader({ version: 2, command: 'local' }).equals(v2(0x20, 0x00, Buffer.alloc(0))));
      assert.ok(encodeProxyHeader({ version: 2, ...v4 }).equals(v2(0x21, 0x11, ipv4Block('203.0.113.7', '192.0.2.1', 51000, 443))));
      assert.ok(encodeProxyHeader({ version: 2, ...v4, transport: 'dgram' }).equals(v2(0x21, 0x12, ipv4Block('203.0.113.7', '192.0.2.1', 51000, 443))));
      const block6 = ipv6Block('20010db8000000000000000000000007', '00000000000000000000ffffc0000201', 51000, 443);
      assert.ok(encodeProxyHeader({ version: 2, ...v6 }).equals(v2(0x21, 0x21, block6)));
      assert.ok(encodeProxyHeader({ version: 2, ...v6, transport: 'dgram' }).equals(v2(0x21, 0x22, block6)));
      const unix = { source: { path: '/run/a.sock' }, destination: { path: '\0abstract' } };
      assert.ok(encodeProxyHeader({ version: 2, ...unix }).equals(v2(0x21, 0x31, unixBlock('/run/a.sock', '\0abstract'))));
      assert.ok(encodeProxyHeader({ version: 2, command: 'proxy' }).equals(v2(0x21, 0x00, Buffer.alloc(0))));
    });

    it('writes the TLVs in HAProxy\'s order, CRC32C first and sealed over the whole header', () => {
      const encoded = encodeProxyHeader({
        version: 2,
        ...v4,
        tlvs: { crc32c: true, alpn: 'h2', authority: 'sb.test', uniqueId: Buffer.from('id-1'), ssl: { client: 1, verify: 0, version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' }, netns: 'blue', noop: 2, unknown: [{ type: 0xe1, value: Buffer.from('x') }] },
      });
      const expected = sealCrc32c(
        v2(
          0x21,
          0x11,
          Buffer.concat([
            ipv4Block('203.0.113.7', '192.0.2.1', 51000, 443),
            CRC32C_PLACEHOLDER,
            tlv(0x01, 'h2'),
            tlv(0x02, 'sb.test'),
            tlv(0x05, 'id-1'),
            tlv(0x20, sslValue(1, 0, tlv(0x21, 'TLSv1.3'), tlv(0x23, 'TLS_AES_128_GCM_SHA256'))),
            tlv(0x30, 'blue'),
            tlv(0x04, Buffer.alloc(2)),
            tlv(0xe1, 'x'),
          ]),
        ),
        31,
      );
      assert.equal(encoded.toString('hex'), expected.toString('hex'));
    });

    it('defaults the SSL client field to "connected over TLS" and verify to 0', () => {
      const header = parse(encodeProxyHeader({ version: 2, ...v4, tlvs: { ssl: { version: 'TLSv1.2' } } }));
      assert.deepEqual(header.tlvs.ssl, ssl(1, 0, { version: 'TLSv1.2' }));
    });
  });

  describe('round trips', () => {
    const cases: [string, ProxyHeaderInit, ProxyHeader][] = [
      ['v1 TCP4', { version: 1, ...v4 }, relayed(1, inet('203.0.113.7', 51000), inet('192.0.2.1', 443))],
      ['v1 TCP6', { version: 1, ...v6 }, relayed(1, inet('2001:db8::7', 51000), inet('::ffff:192.0.2.1', 443))],
      ['v1 UNKNOWN', { version: 1 }, unattributed(1, 'proxy')],
      ['v2 LOCAL with a CRC32C', { version: 2, command: 'local', tlvs: { crc32c: true } }, unattributed(2, 'local', { tlvs: tlvs({ crc32c: true }) })],
      ['v2 UDP6', { version: 2, transport: 'dgram', ...v6 }, relayed(2, inet('2001:db8::7', 51000), inet('::ffff:192.0.2.1', 443), { transport: 'dgram' })],
      [
        'v2 UNIX datagram',
        { version: 2, transport: 'dgram', source: { path: '' }, destination: { path: '/tmp/caf\u00e9' } },
        { ...unattributed(2, 'proxy'), family: 'unix', transport: 'dgram', source: { family: 'unix', path: '' }, destination: { family: 'unix', path: '/tmp/caf\u00e9' } },
      ],
      [
        'v2 with every TLV',
        {
          version: 2,
          ...v4,
          tlvs: {
            crc32c: true,
            alpn: 'http/1.1',
            authority: 'b\u00fccher.example',
            uniqueId: Buffer.alloc(128, 9),
            ssl: { client: 7, verify: 0, version: 'TLSv1.3', cn: 'J\u00fcrgen', cipher: 'TLS_AES_256_GCM_SHA384', sigAlg: 'RSA-SHA256', keyAlg: 'RSA2048', unknown: [{ type: 0x2a, value: Buffer.from([1]) }] },
            netns: 'ns1',
            noop: 5,
            unknown: [{ type: 0xee, value: Buffer.alloc(0) }, { type: 0xf7, value: Buffer.from('exp') }],
          },
        },
        {
          ...relayed(2, inet('203.0.113.7', 51000), inet('192.0.2.1', 443)),
          tlvs: tlvs({
            crc32c: true,
            alpn: 'http/1.1',
            authority: 'b\u00fccher.example',
            uniqueId: Buffer.alloc(128, 9),
            ssl: ssl(7, 0, { version: 'TLSv1.3', cn: 'J\u00fcrgen', cipher: 'TLS_AES_256_GCM_SHA384', sigAlg: 'RSA-SHA256', keyAlg: 'RSA2048', unknown: [{ type: 0x2a, value: Buffer.from([1]) }] }),
            netns: 'ns1',
            unknown: [{ type: 0xee, value: Buffer.alloc(0) }, { type: 0xf7, value: Buffer.from('exp') }],
          }),
        },
      ],
    ];
    for (const [title, init, expected] of cases) {
      it(`parses back ${title} as encoded, and re-encodes the parsed header to the same bytes`, () => {
        const encoded = encodeProxyHeader(init);
        const header = parse(encoded);
        assert.deepEqual(header, expected);
        const again = encodeProxyHeader(header);
        assert.deepEqual(parse(again), expected);
        if (init.tlvs?.noop === undefined) assert.ok(again.equals(encoded), 'same bytes');
      });
    }
  });

  describe('refusals', () => {
    it('names the field and its constraint', () => {
      refuses({ version: 3 }, 'version', /must be 1 or 2, got 3/);
      refuses(null, 'header', /must be an object/);
      refuses({ version: 2, command: 'health' }, 'command', /'proxy' or 'local'/);
      refuses({ version: 2, source: v4.source }, 'destination', /both left out/);
      refuses({ version: 2, source: v4.source, destination: v6.destination }, 'destination', /source's family \(IPv4\)/);
      refuses({ version: 2, source: v4.source, destination: { path: '/a' } }, 'destination', /source's family/);
      refuses({ version: 2, ...v4, source: { address: '1.2.3.4', port: 65536 } }, 'source.port', /0 to 65535, got 65536/);
      refuses({ version: 2, ...v4, source: { address: '1.2.3.4', port: 1.5 } }, 'source.port', /0 to 65535/);
      refuses({ version: 2, ...v4, source: { address: '1.2.3.4' } }, 'source.port', /got undefined/);
      refuses({ version: 2, ...v4, destination: { address: '01.2.3.4', port: 1 } }, 'destination.address', /without leading zeros/);
      refuses({ version: 2, ...v4, source: { address: 'fe80::1%eth0', port: 1 } }, 'source.address', /without a zone/);
      refuses({ version: 2, ...v4, source: { address: 'example.com', port: 1 } }, 'source.address', /IPv4/);
      refuses({ version: 2, ...v4, source: { family: 'IPv6', address: '1.2.3.4', port: 1 } }, 'source.family', /match the address \(IPv4\)/);
      refuses({ version: 2, command: 'local', ...v4 }, 'source', /LOCAL/);
      refuses({ version: 2, family: 'IPv6', ...v4 }, 'family', /match the endpoints \(IPv4\)/);
      refuses({ version: 2, transport: 'unspec', ...v4 }, 'transport', /'stream' or 'dgram'/);
      refuses({ version: 2, transport: 'stream' }, 'transport', /'unspec' without endpoints/);
    });

    it('refuses what v1 cannot carry', () => {
      refuses({ version: 1, command: 'local' }, 'command', /no LOCAL/);
      refuses({ version: 1, ...v4, tlvs: { alpn: 'h2' } }, 'tlvs', /no TLVs/);
      refuses({ version: 1, ...v4, tlvs: { crc32c: true } }, 'tlvs', /no TLVs/);
      refuses({ version: 1, ...v4, transport: 'dgram' }, 'version', /TCP only/);
      refuses({ version: 1, source: { path: '/a' }, destination: { path: '/b' } }, 'version', /TCP only/);
    });

    it('refuses TLV values outside the spec', () => {
      refuses({ version: 2, ...v4, tlvs: { uniqueId: Buffer.alloc(129) } }, 'tlvs.uniqueId', /at most 128 bytes/);
      refuses({ version: 2, ...v4, tlvs: { alpn: 'h\u20ac' } }, 'tlvs.alpn', /U\+00FF/);
      refuses({ version: 2, ...v4, tlvs: { authority: 'a\ud800' } }, 'tlvs.authority', /well-formed/);
      refuses({ version: 2, ...v4, tlvs: { netns: 'n\u00e9t' } }, 'tlvs.netns', /US-ASCII/);
      refuses({ version: 2, ...v4, tlvs: { ssl: { cipher: 'AES\u00ff' } } }, 'tlvs.ssl.cipher', /US-ASCII/);
      refuses({ version: 2, ...v4, tlvs: { ssl: { client: 256 } } }, 'tlvs.ssl.client', /0 to 255/);
      refuses({ version: 2, ...v4, tlvs: { ssl: { verify: -1 } } }, 'tlvs.ssl.verify', /unsigned 32-bit/);
      refuses({ version: 2, ...v4, tlvs: { crc32c: 'yes' } }, 'tlvs.crc32c', /boolean/);
      refuses({ version: 2, ...v4, tlvs: { noop: 65536 } }, 'tlvs.noop', /0 to 65535/);
      refuses({ version: 2, ...v4, tlvs: { unknown: [{ type: 0x01, value: Buffer.alloc(1) }] } }, 'tlvs.unknown[0].type', /names no TLV/);
      refuses({ version: 2, ...v4, tlvs: { unknown: [{ type: 0x04, value: Buffer.alloc(1) }] } }, 'tlvs.unknown[0].type', /names no TLV/);
      refuses({ version: 2, ...v4, tlvs: { unknown: [{ type: 0xe0, value: 'text' }] } }, 'tlvs.unknown[0].value', /Uint8Array/);
      refuses({ version: 2, ...v4, tlvs: { unknown: [{ type: 256, value: Buffer.alloc(0) }] } }, 'tlvs.unknown[0].type', /0 to 255/);
      refuses({ version: 2, ...v4, tlvs: { ssl: { unknown: [{ type: 0x22, value: Buffer.alloc(0) }] } } }, 'tlvs.ssl.unknown[0].type', /names no TLV/);
    });

    it('refuses UNIX paths that do not fit or cannot round-trip', () => {
      const unix = (path: string) => ({ version: 2, source: { path }, destination: { path: '/b' } });
      refuses(unix('/'.repeat(109)), 'source.path', /at most 108 bytes/);
      refuses(unix('/a\0b'), 'source.path', /first character/);
      refuses(unix('\0'), 'source.path', /abstract/);
      refuses(unix('\0name\0'), 'source.path', /abstract/);
      refuses({ version: 2, source: { path: '/a', family: 'IPv4' }, destination: { path: '/b' } }, 'source.family', /'unix'/);
    });

    it('refuses a header longer than the 16-bit length allows', () => {
      refuses({ version: 2, ...v4, tlvs: { unknown: [{ type: 0xe0, value: Buffer.alloc(0xffff - 12 - 2) }] } }, 'tlvs', /65551 bytes/);
      assert.equal(encodeProxyHeader({ version: 2, ...v4, tlvs: { unknown: [{ type: 0xe0, value: Buffer.alloc(0xffff - 12 - 3) }] } }).length, 65551);
      refuses({ version: 2, ...v4, tlvs: { unknown: [{ type: 0xe0, value: Buffer.alloc(0x10000) }] } }, 'TLV 0xe0', /65535 bytes/);
    });
  });
});
