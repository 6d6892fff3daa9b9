import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, parseIPv6 } from '../../src/net/ip-address.ts';

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
