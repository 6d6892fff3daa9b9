import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, it } from 'node:test';
import { resolveListenTargets, type ListenTarget } from '../../src/net/addresses.ts';
import { expandWildcardTargets, parseUnbindableIPv6, type InterfaceTable } from '../../src/net/interface-addresses.ts';
import { isWildcardHost } from '../../src/net/addresses.ts';

function entry(address: string, family: 'IPv4' | 'IPv6'): NetworkInterfaceInfo {
  const common = { address, netmask: '', mac: '00:00:00:00:00:00', internal: false, cidr: null };
  return family === 'IPv4' ? { ...common, family } : { ...common, family, scopeid: 0 };
}

const host: InterfaceTable = {
  lo: [entry('127.0.0.1', 'IPv4'), entry('::1', 'IPv6')],
  eth0: [entry('192.0.2.1', 'IPv4'), entry('192.0.2.2', 'IPv4'), entry('2001:db8::1', 'IPv6'), entry('fe80::1', 'IPv6')],
  eth1: [entry('fe80::1', 'IPv6')],
};

async function expand(spec: string | string[] | undefined, interfaces = host, unusable?: Set<string>, ipv6Only?: boolean) {
  const targets = await resolveListenTargets(spec, 'udp', { ipv6Only });
  return expandWildcardTargets(targets, interfaces, unusable);
}

function hosts(targets: readonly ListenTarget[]): string[] {
  return targets.map((target) => target.host);
}

describe('expandWildcardTargets', () => {
  it("turns '*' into every address of both families, link-local ones with their zone", async () => {
    const { targets, skipped } = await expand('*');
    assert.deepEqual(hosts(targets), ['127.0.0.1', '192.0.2.1', '192.0.2.2', '::1', '2001:db8::1', 'fe80::1%eth0', 'fe80::1%eth1']);
    assert.deepEqual(skipped, []);
    assert.ok(targets.every((target) => target.requested === '*' && !target.literal));
    assert.ok(targets.filter((target) => target.family === 'IPv6').every((target) => target.ipv6Only));
  });

  it('turns no host or 0.0.0.0 into the IPv4 addresses only', async () => {
    assert.deepEqual(hosts((await expand(undefined)).targets), ['127.0.0.1', '192.0.2.1', '192.0.2.2']);
    assert.deepEqual(hosts((await expand('0.0.0.0')).targets), ['127.0.0.1', '192.0.2.1', '192.0.2.2']);
  });

  it('turns a dual-stack :: into both families, and an IPv6-only :: into IPv6 alone', async () => {
    assert.equal((await expand('::')).targets.length, 7);
    assert.deepEqual(hosts((await expand('::', host, undefined, true)).targets), ['::1', '2001:db8::1', 'fe80::1%eth0', 'fe80::1%eth1']);
  });

  it('keeps other targets and removes duplicates', async () => {
    const { targets } = await expand(['127.0.0.1', '*', '127.0.0.3']);
    assert.deepEqual(hosts(targets), ['127.0.0.1', '192.0.2.1', '192.0.2.2', '::1', '2001:db8::1', 'fe80::1%eth0', 'fe80::1%eth1', '127.0.0.3']);
    assert.equal(targets[0]!.literal, true, 'the first occurrence wins');
  });

  it('skips addresses that cannot be bound yet and says why', async () => {
    const { targets, skipped } = await expand('*', host, new Set(['fe80::1']));
    assert.deepEqual(hosts(targets), ['127.0.0.1', '192.0.2.1', '192.0.2.2', '::1', '2001:db8::1']);
    assert.deepEqual(
      skipped.map((s) => [s.host, s.requested]),
      [
        ['fe80::1%eth0', '*'],
        ['fe80::1%eth1', '*'],
      ],
    );
    assert.match(skipped[0]!.reason, /tentative/);
  });

  it('keeps the wildcard of a family no interface has, for the usual family rules to judge', async () => {
    const v4only: InterfaceTable = { lo: [entry('127.0.0.1', 'IPv4')] };
    const { targets } = await expand('*', v4only);
    assert.deepEqual(targets.map((target) => `${target.host}/${target.family}/${target.ipv6Only}`), ['127.0.0.1/IPv4/false', '::/IPv6/true']);
  });
});

describe('parseUnbindableIPv6', () => {
  it('reads tentative and failed addresses from /proc/net/if_inet6', () => {
    const table = [
      '00000000000000000000000000000001 01 80 10 80       lo',
      'fe8000000000000000fc00fffe000001 04 40 20 40     eth0', // tentative
      '20010db8000000000000000000000002 04 40 00 08     eth0', // dad failed
      'fd000000000000000000000000000002 04 40 00 82     eth0', // permanent, nodad
      '20010db8000000000000000000000003 04 40 00 a0     eth0', // deprecated: bindable
      '',
    ].join('\n');
    assert.deepEqual([...parseUnbindableIPv6(table)], ['fe80::fc:ff:fe00:1', '2001:db8::2']);
  });

  it('ignores malformed lines', () => {
    assert.deepEqual([...parseUnbindableIPv6('garbage\n1234 01\n')], []);
  });
});

describe('isWildcardHost', () => {
  it('recognises every spelling of a wildcard', () => {
    for (const spelling of ['', '*', '0.0.0.0', '::', '::0', '[::]', '0:0::0']) assert.equal(isWildcardHost(spelling), true, spelling);
    for (const spelling of ['127.0.0.1', '::1', 'localhost', '0.0.0.1', '[::1]']) assert.equal(isWildcardHost(spelling), false, spelling);
  });
});
