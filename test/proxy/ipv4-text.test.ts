/**
 * The IPv4 texts a PROXY header's addresses get (src/proxy/ipv4-text.ts) are formatIPv4's, whether
 * made or taken from the cache: for addresses that share a slot and replace each other, the ends
 * of the range, and seeded random ones seen again in a random order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIPv4 } from '../../src/net/ip-address.ts';
import { ipv4Text } from '../../src/proxy/ipv4-text.ts';
import { parseProxyHeader } from '../../src/proxy/proxy-parser.ts';
import { encodeProxyHeader } from '../../src/proxy/proxy-encoder.ts';
import { createSeededRandom } from '../../src/testing/index.ts';

function expected(octets: readonly number[]): string {
  return formatIPv4(Uint8Array.from(octets), 0);
}

describe('ipv4Text', () => {
  it('gives formatIPv4 text for the ends of the range and addresses that share a cache slot', () => {
    // The slot is (7a + 13b + 31c + d) mod 256: these pairs collide, so each call replaces the other's entry.
    const colliding = [[0, 0, 0, 0], [0, 0, 1, 225], [198, 18, 0, 7], [198, 18, 1, 232], [255, 255, 255, 255], [255, 255, 254, 30], [127, 0, 0, 1], [0, 0, 0, 122]];
    for (let round = 0; round < 3; round++) {
      for (const octets of colliding) assert.equal(ipv4Text(octets[0]!, octets[1]!, octets[2]!, octets[3]!), expected(octets), octets.join('.'));
    }
  });

  it('gives formatIPv4 text for seeded random addresses, asked again in a random order', () => {
    const random = createSeededRandom(0x5eed);
    const addresses = Array.from({ length: 2000 }, () => [random.below(256), random.below(256), random.below(256), random.below(256)]);
    for (let i = 0; i < 20_000; i++) {
      const octets = addresses[random.below(addresses.length)]!;
      assert.equal(ipv4Text(octets[0]!, octets[1]!, octets[2]!, octets[3]!), expected(octets));
    }
  });

  it('names the addresses of v1 and v2 headers as before, the same header twice', () => {
    const source = { address: '198.18.0.7', port: 56_208 };
    const destination = { address: '198.18.1.232', port: 443 }; // shares the source's slot
    for (const version of [1, 2] as const) {
      for (let round = 0; round < 2; round++) {
        const result = parseProxyHeader(encodeProxyHeader({ version, source, destination }));
        assert.equal(result.state, 'complete');
        assert.deepEqual(result.header.source, { family: 'IPv4', address: '198.18.0.7', port: 56_208 });
        assert.deepEqual(result.header.destination, { family: 'IPv4', address: '198.18.1.232', port: 443 });
      }
    }
  });
});
