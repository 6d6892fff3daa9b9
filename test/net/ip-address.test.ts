import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SocketAddress } from 'node:net';
import {
  addressKey,
  canonicalIPv6,
  canonicalStrictIPv6,
  formatIPv6,
  isUnspecifiedIPv6,
  mappedIPv4,
  parseIPv6,
  parseStrictIPv4,
  parseStrictIPv6,
} from '../../src/net/ip-address.ts';
import { createSeededRandom } from '../helpers/seeded-random.ts';

describe('addressKey', () => {
  it('keeps IPv4 addresses as they are', () => {
    assert.equal(addressKey('198.18.2.3', 128), '198.18.2.3');
    assert.equal(addressKey('198.18.2.3', 64), '198.18.2.3');
  });

  it('counts an IPv4-mapped IPv6 peer as its IPv4 address, in dotted and hex form', () => {
    assert.equal(addressKey('::ffff:198.18.2.3', 128), '198.18.2.3');
    assert.equal(addressKey('::FFFF:198.18.2.3', 64), '198.18.2.3');
    assert.equal(addressKey('::ffff:c612:203', 64), '198.18.2.3');
  });

  it('keeps a whole IPv6 address by default', () => {
    assert.equal(addressKey('2001:db8::1', 128), '2001:db8::1');
    assert.notEqual(addressKey('2001:db8::1', 128), addressKey('2001:db8::2', 128));
  });

  it('counts every address of a /64 as one peer when asked', () => {
    const a = addressKey('2001:db8:1:2:aaaa::1', 64);
    const b = addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff', 64);
    const other = addressKey('2001:db8:1:3::1', 64);
    assert.equal(a, '2001:db8:1:2::/64');
    assert.equal(a, b);
    assert.notEqual(a, other);
  });

  it('masks prefixes that do not fall on a group boundary', () => {
    assert.equal(addressKey('2001:db8:abcd::1', 36), '2001:db8:a000::/36');
    assert.equal(addressKey('2001:db8:abcd::1', 40), addressKey('2001:db8:abff::9', 40));
  });

  it('keeps the zone of a link-local address', () => {
    assert.equal(addressKey('fe80::1%eth0', 64), 'fe80:0:0:0::/64%eth0');
    assert.notEqual(addressKey('fe80::1%eth0', 64), addressKey('fe80::1%eth1', 64));
  });
});

describe('parseIPv6', () => {
  it('expands ::, leading and trailing, and an IPv4 tail', () => {
    assert.deepEqual(parseIPv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(parseIPv6('::1'), [0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(parseIPv6('1::'), [1, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(parseIPv6('1:2:3:4:5:6:7:8'), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(parseIPv6('64:ff9b::192.0.2.1'), [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0201]);
  });

  it('rejects what is not an IPv6 address', () => {
    for (const bad of ['1:2:3', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8:9', 'g::1', '1.2.3.4::', '::1.2.3', '::1.2.3.256']) {
      assert.equal(parseIPv6(bad), undefined, bad);
    }
  });
});

describe('canonicalIPv6', () => {
  it('writes an address as Node does, keeping a zone id', () => {
    const cases: [string, string][] = [
      ['::0', '::'],
      ['0:0::0', '::'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['0001:0db8::0001', '1:db8::1'],
      ['::ffff:7f00:1', '::ffff:127.0.0.1'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['fe80:0::1%eth0', 'fe80::1%eth0'],
    ];
    for (const [text, canonical] of cases) assert.equal(canonicalIPv6(text), canonical, text);
    assert.equal(canonicalIPv6('not-an-address'), undefined);
    assert.equal(canonicalIPv6('1.2.3.4'), undefined);
  });

  it('agrees with Node for random addresses', () => {
    const random = createSeededRandom(9);
    const bytes = Buffer.alloc(16);
    for (let round = 0; round < 2000; round++) {
      for (let index = 0; index < 16; index++) bytes[index] = random.next() < 0.5 ? 0 : random.below(256);
      const text = formatIPv6(bytes, 0);
      assert.equal(text, new SocketAddress({ address: text, family: 'ipv6' }).address, bytes.toString('hex'));
      assert.equal(canonicalIPv6(text), text);
      assert.deepEqual(parseStrictIPv6(text), Buffer.from(bytes));
    }
  });
});

describe('canonicalStrictIPv6', () => {
  it('refuses a zone and leading zeros in a dotted tail, which canonicalIPv6 takes', () => {
    assert.equal(canonicalStrictIPv6('::FFFF:192.0.2.1'), '::ffff:192.0.2.1');
    assert.equal(canonicalStrictIPv6('fe80::1%eth0'), undefined);
    assert.equal(canonicalStrictIPv6('::ffff:192.0.2.01'), undefined);
    assert.equal(canonicalIPv6('::ffff:192.0.2.01'), '::ffff:192.0.2.1');
  });
});

describe('parseStrictIPv4', () => {
  it('takes dotted quads without leading zeros only', () => {
    assert.deepEqual(parseStrictIPv4('192.0.2.255'), [192, 0, 2, 255]);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1..2.3', '1.2.3.4 ', 'a.b.c.d']) assert.equal(parseStrictIPv4(bad), undefined, bad);
  });
});

describe('mappedIPv4', () => {
  it('unmaps a dotted IPv4-mapped address in either case, nothing else', () => {
    assert.equal(mappedIPv4('::ffff:198.18.0.1'), '198.18.0.1');
    assert.equal(mappedIPv4('::FFFF:198.18.0.1'), '198.18.0.1');
    for (const other of ['::ffff:a00:1', '::1', '::ffff:198.18.0', '::fffe:198.18.0.1', '198.18.0.1']) assert.equal(mappedIPv4(other), undefined, other);
  });
});

describe('isUnspecifiedIPv6', () => {
  it('knows the all-zero address in every spelling', () => {
    for (const zero of ['::', '::0', '0:0:0:0:0:0:0:0', '::0.0.0.0']) assert.equal(isUnspecifiedIPv6(zero), true, zero);
    for (const other of ['::1', '0.0.0.0', '', '::%eth0']) assert.equal(isUnspecifiedIPv6(other), false, other);
  });
});
