import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CRC32C_INITIAL, crc32c, crc32cFinal, crc32cUpdate } from '../../src/proxy/crc32c.ts';

describe('crc32c', () => {
  // RFC 3720 section B.4 gives these as the bytes sent; the value is their little-endian reading.
  const rfc3720: [string, Buffer, number][] = [
    ['32 bytes of zeros', Buffer.alloc(32), 0x8a9136aa],
    ['32 bytes of 0xFF', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['32 incrementing bytes 00..1F', Buffer.from([...Array(32).keys()]), 0x46dd794e],
    ['32 decrementing bytes 1F..00', Buffer.from([...Array(32).keys()].reverse()), 0x113fdb5c],
    [
      'an iSCSI SCSI Read (10) command PDU',
      Buffer.from('01c000000000000000000000000000001400000000000400000000140000001828000000000000000200000000000000', 'hex'),
      0xd9963a56,
    ],
  ];
  for (const [title, bytes, expected] of rfc3720) {
    it(`matches the RFC 3720 test vector for ${title}`, () => {
      assert.equal(crc32c(bytes), expected);
    });
  }

  it('gives the standard check value for "123456789" and 0 for no bytes', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  it('computes the same checksum over pieces as over the whole', () => {
    const bytes = Buffer.from([...Array(300).keys()].map((index) => (index * 37) & 0xff));
    for (const cut of [0, 1, 17, 150, 299, 300]) {
      const running = crc32cUpdate(crc32cUpdate(CRC32C_INITIAL, bytes, 0, cut), bytes, cut, bytes.length);
      assert.equal(crc32cFinal(running), crc32c(bytes), `cut at ${cut}`);
    }
  });

  // The definition, a bit at a time with no table: the sliced tables must agree with it for every
  // length (the 8-byte steps and the byte tail) and every start offset (unaligned steps).
  function bitwise(bytes: Uint8Array, start: number, end: number): number {
    let crc = 0xffffffff;
    for (let index = start; index < end; index++) {
      crc ^= bytes[index]!;
      for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
    return (crc ^ 0xffffffff) >>> 0;
  }

  it('equals the bit-at-a-time definition at every start offset and length up to 80 bytes', () => {
    const bytes = Buffer.from([...Array(100).keys()].map((index) => (index * 151 + 7) & 0xff));
    for (let start = 0; start < 10; start++) {
      for (let end = start; end <= start + 80; end++) {
        assert.equal(crc32cFinal(crc32cUpdate(CRC32C_INITIAL, bytes, start, end)), bitwise(bytes, start, end), `bytes [${start}, ${end})`);
      }
    }
  });
});
