/**
 * The client where loopback cannot show it: a black-holed peer (timeout), unreachable hosts and
 * networks, Happy Eyeballs with a first address that never answers, and UDP replies from a
 * spoofed source — each in a network namespace the test creates (test/helpers/netns.ts).
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { createNetns, runNodeInNetns, skipWithoutNetns } from '../helpers/netns.ts';

const fixture = fileURLToPath(new URL('./fixtures/netns-dial.ts', import.meta.url));

/**
 * A veth pair `v0`–`v1`, both up, the given addresses on `v0` (IPv6 without duplicate detection,
 * usable at once) and none on `v1`: a peer on `v0`'s subnet is black-holed — nothing answers its
 * ARP or neighbour solicitation, so a SYN to it gets no reply and no refusal (until neighbour
 * discovery gives up after about 3 s, longer than any wait here). No dummy devices: the test
 * kernels may lack the module.
 */
function blackHoleLink(addresses: readonly string[]): string[][] {
  return [
    ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
    ['link', 'set', 'v0', 'up'],
    ['link', 'set', 'v1', 'up'],
    ...addresses.map((address) => (address.includes(':') ? ['-6', 'addr', 'add', address, 'dev', 'v0', 'nodad'] : ['addr', 'add', address, 'dev', 'v0'])),
  ];
}

interface Dialed {
  readonly code?: string;
  readonly message?: string;
  readonly address?: string;
  readonly elapsedMs: number;
  readonly report?: { attempted: string[]; address: string; family: string };
}

describe('connectTcp in a network namespace', () => {
  it('times out on a black-holed address, and names unreachable hosts and networks, with their codes', async (t) => {
    if (skipWithoutNetns(t)) return;
    const ns = await createNetns(t, { setup: [...blackHoleLink(['198.18.0.1/24']), ['route', 'add', 'unreachable', '198.19.0.0/16']] });
    const report = await runNodeInNetns<Record<string, Dialed>>(ns, fixture, ['errors']);
    assert.deepEqual([report.timeout!.code, report.timeout!.message], ['SWB_ERR_CONNECT_TIMEOUT', 'dial tcp 198.18.0.2:7: i/o timeout (no connection within 300 ms)']);
    assert.ok(report.timeout!.elapsedMs >= 290 && report.timeout!.elapsedMs < 3000, `timed out after ${report.timeout!.elapsedMs} ms`);
    assert.deepEqual([report.hostUnreachable!.code, report.hostUnreachable!.message], ['SWB_ERR_HOST_UNREACHABLE', 'dial tcp 198.19.0.1:7: no route to host (EHOSTUNREACH)']);
    assert.deepEqual([report.networkUnreachable!.code, report.networkUnreachable!.message], ['SWB_ERR_HOST_UNREACHABLE', 'dial tcp 203.0.113.1:7: network is unreachable (ENETUNREACH)']);
  });

  it('Happy Eyeballs: with the first address black-holed, the other family wins within the attempt delay', async (t) => {
    if (skipWithoutNetns(t)) return;
    const ns = await createNetns(t, { setup: blackHoleLink(['198.18.0.1/24', '2001:db8::1/64']) });
    const report = await runNodeInNetns<{ port: number; ipv6First: Dialed; ipv4First: Dialed }>(ns, fixture, ['happy-eyeballs']);
    const { port } = report;
    for (const [dialed, loser, winner, family] of [
      [report.ipv6First, `[2001:db8::2]:${port}`, '127.0.0.1', 'IPv4'],
      [report.ipv4First, `198.18.0.2:${port}`, '::1', 'IPv6'],
    ] as const) {
      assert.equal(dialed.code, undefined, dialed.message);
      assert.equal(dialed.address, winner);
      assert.deepEqual(dialed.report?.attempted, [loser, winner.includes(':') ? `[${winner}]:${port}` : `${winner}:${port}`]);
      assert.equal(dialed.report?.family, family);
      // The second attempt starts after 100 ms; the black-holed one would take the whole 5 s timeout.
      assert.ok(dialed.elapsedMs >= 95 && dialed.elapsedMs < 2000, `connected after ${dialed.elapsedMs} ms`);
    }
  });
});

describe('connectUdp in a network namespace', () => {
  it('ignores a reply from a spoofed source (another address of the server host) and resolves with the real one', async (t) => {
    if (skipWithoutNetns(t)) return;
    const ns = await createNetns(t, { setup: blackHoleLink(['198.18.0.1/24', '198.18.0.2/24', '2001:db8::1/64', '2001:db8::2/64']) });
    type Result = { reply?: string; connected?: boolean; stats?: { ignored: number; replies: number }; code?: string; message?: string };
    const { results } = await runNodeInNetns<{ results: Record<string, Result> }>(ns, fixture, ['udp-spoof']);
    for (const [family, connected, ignored] of [['IPv4 connected', true, 0], ['IPv4 unconnected', false, 1], ['IPv6', false, 1]] as const) {
      const result = results[family]!;
      assert.equal(result.reply, 'real ping', `${family}: ${result.message ?? ''}`);
      assert.equal(result.connected, connected, family);
      // A connected socket never sees the spoof (the kernel drops it); the others see it and drop it themselves.
      assert.equal(result.stats?.ignored, ignored, family);
      assert.equal(result.stats?.replies, 1, family);
    }
  });
});
