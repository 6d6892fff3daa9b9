/**
 * Spoofed floods, as a reflection attack sends them: thousands of source addresses, each well
 * within its per-source rate, aimed at a UDP server in another network namespace. Amplification
 * is measured on the wire — the server namespace's IP byte counters, headers included — not by
 * the library's own ledger.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { UdpServerStats } from '../../src/index.ts';
import { CliProcess, hasProgram, startCli } from '../cli/cli-process.ts';
import { skipWithoutNetns } from '../helpers/netns.ts';
import { createFloodPair, FLOOD_SERVER_ADDRESS, readWireCounters, type FloodPlan, type FloodReceived, type FloodSent, type WireCounters } from './helpers/flood.ts';
import { startNodeInNetns } from './helpers/multihomed.ts';

const clientScript = fileURLToPath(new URL('./fixtures/flood-client.ts', import.meta.url));
const serverScript = fileURLToPath(new URL('./fixtures/flood-server.ts', import.meta.url));

/** Sources in the flood: 2 datagrams from each to each port, far below any per-source rate. */
const SOURCES = 4000;
const MAX_OPEN_FILES = SOURCES + 1024;
/** 200 datagrams every 5 ms: about 40 000 a second, which the server's receive buffer takes in. */
const PACE = { burst: 200, pauseMs: 5 } as const;

/** The flood as the server namespace saw it. */
interface Measured {
  /** Request bytes on the wire that reached the server's sockets (kernel drops taken out, at their largest). */
  readonly requestWire: number;
  readonly replyWire: number;
}

function measure(before: WireCounters, after: WireCounters, sent: FloodSent, largestRequest: number): Measured {
  const wireIn = after.in - before.in;
  assert.equal(wireIn, sent.bytes + 28 * sent.datagrams, 'every request reached the server namespace, and nothing else did');
  const kernelDrops = after.rcvbufErrors - before.rcvbufErrors;
  return { requestWire: wireIn - kernelDrops * (largestRequest + 28), replyWire: after.out - before.out };
}

function assertAmplification({ requestWire, replyWire }: Measured, factor: number): void {
  assert.ok(requestWire > 0, 'requests reached the server');
  const ratio = replyWire / requestWire;
  assert.ok(replyWire <= factor * requestWire, `wire amplification ${ratio.toFixed(2)}× (${replyWire} bytes out for ${requestWire} in) is at most ${factor}×`);
}

/** Namespaces, and `prlimit` to give the flood client a descriptor per source. */
function skipWithoutFloodTools(t: TestContext): boolean {
  if (skipWithoutNetns(t)) return true;
  if (hasProgram('prlimit')) return false;
  t.skip('SKIPPED LOUDLY: the flood needs prlimit (util-linux) to open a socket per source');
  return true;
}

describe('UDP under a spoofed flood from many sources (network namespaces)', () => {
  it('switchboard serve: qotd and chargen send at most 3× the request bytes on the wire, and at most 64 KiB/s each', async (t) => {
    if (skipWithoutFloodTools(t)) return;
    const pair = await createFloodPair(t);
    const before = await readWireCounters(pair.server);
    const started = performance.now();
    const cli = startCli(t, ['serve', 'qotd', 'chargen', '--listen', `${FLOOD_SERVER_ADDRESS}:0`], {}, ['ip', 'netns', 'exec', pair.server]);
    const listening = await cli.listening(4);
    const ports = ['qotd', 'chargen'].map((name) => CliProcess.find(listening, name, 'udp').port);
    // Empty requests: the cheapest there are, which the old absolute allowance let draw 512 bytes each.
    const plan: FloodPlan = { target: FLOOD_SERVER_ADDRESS, ports, sources: SOURCES, perSource: 2, sizes: [0], ...PACE };
    const flood = await startNodeInNetns<FloodSent, FloodReceived>(t, pair.client, clientScript, { args: [JSON.stringify(plan)], maxOpenFiles: MAX_OPEN_FILES });
    assert.equal(flood.ready.datagrams, SOURCES * 2 * 2);
    assert.equal((await cli.stop(10_000)).code, 0);
    const livedSeconds = (performance.now() - started) / 1000;
    const measured = measure(before, await readWireCounters(pair.server), flood.ready, 0);
    const received = await flood.stop();

    assert.ok(received.replies >= 500, `the flood drew ${received.replies} replies: the bounds below are not met by silence`);
    assertAmplification(measured, 3);
    // Each service's bucket starts full (one second's worth) and may be overdrawn by one reply (84 bytes at most here).
    const budget = 2 * (64 * 1024 * (livedSeconds + 1) + 84);
    assert.ok(measured.replyWire <= budget, `${measured.replyWire} reply bytes on the wire within 2 × 64 KiB/s over ${livedSeconds.toFixed(1)} s (${budget.toFixed(0)})`);
    for (const name of ['qotd', 'chargen']) {
      assert.match(cli.stderr.text, new RegExp(`^warning: ${name} udp: dropped \\d+ datagram\\(s\\) in [\\d.]+s \\((.*, )?\\d+ reply-rate-limit`, 'm'), `${name}'s refused replies are logged with their reason`);
    }
  });

  it('the library: a handler that takes every byte it may is held to maxAmplification and replyRateLimit, and the ledger counts the wire', async (t) => {
    if (skipWithoutFloodTools(t)) return;
    const pair = await createFloodPair(t);
    const replyRateLimit = 32 * 1024;
    const before = await readWireCounters(pair.server);
    const server = await startNodeInNetns<{ port: number }, { stats: UdpServerStats; livedMs: number }>(t, pair.server, serverScript, { args: [JSON.stringify({ replyRateLimit })] });
    const sizes = [0, 1, 7, 20, 64];
    const plan: FloodPlan = { target: FLOOD_SERVER_ADDRESS, ports: [server.ready.port], sources: SOURCES, perSource: 2, sizes, ...PACE };
    const flood = await startNodeInNetns<FloodSent, FloodReceived>(t, pair.client, clientScript, { args: [JSON.stringify(plan)], maxOpenFiles: MAX_OPEN_FILES });
    const { stats, livedMs } = await server.stop();
    const measured = measure(before, await readWireCounters(pair.server), flood.ready, Math.max(...sizes));
    await flood.stop();

    assert.ok(stats.datagramsOut >= 200, `the flood drew ${stats.datagramsOut} replies`);
    assertAmplification(measured, 3);
    assert.equal(measured.replyWire, stats.bytesOut + 28 * stats.datagramsOut, "the ledger's replies plus 28 bytes of headers each are exactly what went on the wire");
    const budget = replyRateLimit * (livedMs / 1000 + 1) + 512 + 28;
    assert.ok(measured.replyWire <= budget, `${measured.replyWire} reply bytes on the wire within ${replyRateLimit} B/s over ${(livedMs / 1000).toFixed(1)} s (${budget.toFixed(0)})`);
    assert.ok(stats.dropped['reply-rate-limit'] > 0, 'the reply rate, not luck, held the bound');
    assert.equal(stats.datagramsIn, stats.accepted + stats.dropped['too-large'] + stats.dropped['rate-limit'] + stats.dropped['queue-full'] + stats.dropped['max-in-flight']);
    assert.equal(stats.accepted, stats.datagramsOut + stats.dropped['reply-rate-limit'] + stats.dropped.amplification, 'one reply asked for per datagram');
  });
});
