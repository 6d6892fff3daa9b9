import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { until, within } from '../helpers/net.ts';
import { processAlive } from '../helpers/process-alive.ts';
import { udpClient, type UdpTestClient } from '../udp/helpers/udp.ts';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { startSuccessor } from '../../src/workers/upgrade.ts';
import { normalizeUdpRelayLimits, type UdpRelayLimits } from '../../src/workers/udp-relay.ts';
import { serveWorkers, type WorkerSet } from '../../src/workers/worker-set.ts';

const MODULE = new URL('./fixtures/pid-echo.ts', import.meta.url);
const HOSTS = hostHasIPv6() ? ['127.0.0.1', '::1'] : ['127.0.0.1'];

async function udpWorker(t: TestContext): Promise<{ set: WorkerSet; pid: number; port: number }> {
  const set = await within(serveWorkers({ module: MODULE, workers: 1, mode: 'reuseport', tcp: false, udp: { host: HOSTS, port: 0 } }), 'the worker to start', 20_000);
  t.after(() => set.destroy());
  const pid = set.workers()[0]?.pid ?? 0;
  const port = set.addresses[0]?.port ?? 0;
  return { set, pid, port };
}

/**
 * Collects the worker's UDP sockets as an upgrade does, stops the worker (SIGSTOP) so that only
 * this process can read them, and sends `count` datagrams to each address from `clients`: every
 * one is this process's to read. Resolves once it read them all; then it lets go of its copies
 * and the worker goes on (SIGCONT).
 */
async function readWhileHeld(t: TestContext, set: WorkerSet, pid: number, port: number, limits: UdpRelayLimits, count: number, size = 0) {
  const collected = await within(set.collectUdpSockets(normalizeUdpRelayLimits(limits)), 'the UDP sockets', 10_000);
  assert.equal(collected.sockets.length, HOSTS.length, 'one socket per address');
  let released = false;
  const release = (): void => {
    if (!released) collected.release();
    released = true;
  };
  const resume = (): void => {
    release();
    if (processAlive(pid)) process.kill(pid, 'SIGCONT');
  };
  process.kill(pid, 'SIGSTOP');
  t.after(resume);
  const clients: [UdpTestClient, string][] = await Promise.all(HOSTS.map(async (host) => [await udpClient(t, host === '::1' ? 'udp6' : 'udp4'), host] as [UdpTestClient, string]));
  for (let n = 0; n < count; n++) for (const [client, host] of clients) await client.send(String(n).padEnd(size, '.'), port, host);
  await until(() => collected.relay.transit.read === count * HOSTS.length, 'this process to read every datagram', 5_000);
  resume();
  return { transit: () => collected.relay.transit, clients };
}

describe('WorkerSet#collectUdpSockets: the datagrams the primary reads while an upgrade holds the workers\' UDP sockets', () => {
  it('are relayed to the worker that owns the socket, which answers each one from the address the client sent it to', async (t) => {
    const { set, pid, port } = await udpWorker(t);
    const { transit, clients } = await readWhileHeld(t, set, pid, port, {}, 10);
    for (const [client, host] of clients) {
      const answers = new Set<string>();
      for (let n = 0; n < 10; n++) {
        const { data, from } = await client.next(`answer ${n} from ${host}`);
        assert.equal(from.address, host, 'from the address the client sent to');
        assert.equal(from.port, port);
        answers.add(data.toString());
      }
      assert.deepEqual([...answers].sort(), Array.from({ length: 10 }, (_, n) => `${pid} ${n}`).sort(), 'by the worker that owns the socket, each datagram once');
    }
    assert.deepEqual(transit(), { read: 10 * HOSTS.length, relayed: 10 * HOSTS.length, lost: 0 });
    const { udp } = await set.stats();
    assert.equal(udp?.datagramsIn, 10 * HOSTS.length, 'counted by the worker as received');
    assert.equal(udp?.datagramsOut, 10 * HOSTS.length);
  });

  it('counts those past the relay limits as lost (maxDatagrams 0; a datagram over maxBytes)', async (t) => {
    const { set, pid, port } = await udpWorker(t);
    const none = await readWhileHeld(t, set, pid, port, { maxDatagrams: 0 }, 3);
    assert.deepEqual(none.transit(), { read: 3 * HOSTS.length, relayed: 0, lost: 3 * HOSTS.length });
    const large = await readWhileHeld(t, set, pid, port, { maxBytes: 10 }, 2, 11);
    assert.deepEqual(large.transit(), { read: 2 * HOSTS.length, relayed: 0, lost: 2 * HOSTS.length });
    // Nothing was relayed (the stats request follows any relayed datagram on the channel): the worker saw none of them.
    const { udp } = await set.stats();
    assert.equal(udp?.datagramsIn, 0);
  });

  it('refuses a limit that is not a non-negative integer: SWB_ERR_INVALID_OPTION', async () => {
    assert.throws(() => normalizeUdpRelayLimits({ maxDatagrams: -1 }), { code: 'SWB_ERR_INVALID_OPTION', message: '`udpRelay.maxDatagrams` must be a non-negative integer, got -1' });
    await assert.rejects(startSuccessor({ udpRelay: { maxBytes: 1.5 }, command: { file: process.execPath, args: ['-e', ''] } }), { code: 'SWB_ERR_INVALID_OPTION', message: /`udpRelay.maxBytes` must be a non-negative integer, got 1.5/ });
  });
});
