import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { createNetns, runNodeInNetns, skipWithoutNetns } from '../helpers/netns.ts';

const fixture = fileURLToPath(new URL('./fixtures/ipv6-less-host.ts', import.meta.url));

interface Report {
  hasIPv6: boolean;
  explicit: { code?: string; message?: string; bound?: unknown };
  star: { addresses: string[]; warnings: string[] };
  echo: string;
}

describe('a host without IPv6 (network namespace with IPv6 disabled)', () => {
  it('fails an explicit ::1 with a clear error, and serves * on IPv4 with a warning', async (t) => {
    if (skipWithoutNetns(t)) return;
    const ns = await createNetns(t, { disableIPv6: true });
    const report = await runNodeInNetns<Report>(ns, fixture);
    assert.equal(report.hasIPv6, false);
    assert.deepEqual(report.explicit, {
      code: 'SWB_ERR_IPV6_UNAVAILABLE',
      message: 'listen tcp [::1]:0: IPv6 is not available on this host',
    });
    assert.deepEqual(report.star.addresses, ['0.0.0.0/IPv4']);
    assert.deepEqual(report.star.warnings, ['IPv6 is not available on this host; not listening on [::] for "*"']);
    assert.equal(report.echo, 'v4 only');
  });
});
