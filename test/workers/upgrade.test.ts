import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createNetns, runNodeInNetns, skipWithoutNetns } from '../helpers/netns.ts';
import { until, within } from '../helpers/net.ts';
import { processAlive } from '../helpers/process-alive.ts';
import { HAS_SOCKET_ACTIVATE, socketActivate } from '../activation/activate.ts';
import { greetingPid as greetPid } from './fixtures/short-connection.ts';
import { startSuccessor, tcpMigrateReq } from '../../src/workers/upgrade.ts';
import type { BoundAddress } from '../../src/net/listener-group.ts';

const run = promisify(execFile);
const execFileSyncText = (file: string, args: readonly string[]): string => execFileSync(file, args, { encoding: 'utf8' });
const LOAD = fileURLToPath(new URL('./fixtures/upgrade-under-load.ts', import.meta.url));
const LIBRARY = fileURLToPath(new URL('./fixtures/upgrade-library.ts', import.meta.url));
const DRAIN = 1_000;

interface LoadResult {
  inodesBefore: string[];
  inodesAfter: string[];
  upgrades: number;
  shortOk: number;
  shortFailed: number;
  failures: Record<string, number>;
  longBroken: number;
  longDrained: number;
  longLines: number;
  oldGoneMs: number[];
  rollbackOk: boolean;
  error: string;
}

async function upgradeUnderLoad(t: import('node:test').TestContext, migrate: 0 | 1, upgrades: number, failing: boolean): Promise<LoadResult> {
  const ns = await createNetns(t);
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv4.tcp_migrate_req=${migrate}`]);
  const result = await runNodeInNetns<LoadResult>(ns, LOAD, [String(upgrades), '8', '10', failing ? '1' : '0', String(DRAIN)], 60_000);
  t.diagnostic(`tcp_migrate_req=${migrate}: ${JSON.stringify(result)}`);
  assert.equal(result.error, '');
  assert.equal(result.upgrades, upgrades);
  return result;
}

/** What every upgrade under load must show, whatever the sysctl: the listening sockets are handed over, not re-bound. */
function assertLossless(result: LoadResult): void {
  assert.ok(result.shortOk > 100, 'the short connections ran');
  assert.ok(result.longLines > 100, 'the long-lived sessions exchanged lines');
  assert.deepEqual(result.failures, {}, 'no connection refused, reset or empty');
  assert.equal(result.shortFailed, 0);
  assert.equal(result.longBroken, 0, 'no long-lived session broken (every line in sequence)');
  for (const ms of result.oldGoneMs) assert.ok(ms <= DRAIN + 1_000, `the old pid exited ${ms} ms after the new one was ready`);
  // The same kernel sockets (one per worker) before the first upgrade and after the last.
  assert.equal(result.inodesBefore.length, 2);
  assert.deepEqual(result.inodesAfter, result.inodesBefore);
}

describe('switchboard run --workers: zero-downtime upgrade (SIGUSR2) under load, in a network namespace', () => {
  it('with tcp_migrate_req=0: 0 refused or reset connections, 0 broken long-lived sessions, the same sockets (ss inodes), the old pid gone within drain + 1 s; a failing new version rolls back with 0 failures', async (t) => {
    if (skipWithoutNetns(t)) return;
    const result = await upgradeUnderLoad(t, 0, 2, true);
    assertLossless(result);
    assert.ok(result.rollbackOk, 'the old process kept serving after the failed upgrade');
  });

  it('with tcp_migrate_req=1: the same', async (t) => {
    if (skipWithoutNetns(t)) return;
    assertLossless(await upgradeUnderLoad(t, 1, 2, false));
  });
});

interface LibraryResult {
  tcpOk: number;
  tcpFailed: number;
  failures: Record<string, number>;
  udpSent: number;
  udpAnswered: number;
  kernelDrops: number;
  snmpInErrors: number;
  transitRead: number;
  relayedDatagrams: number;
  transitDatagrams: number;
  secondTransit: number;
  secondTcpAccepted: number;
  inodesBefore: string[];
  inodesAfter: string[];
  oldFinal: { tcp?: { accepted: number }; udp?: { datagramsIn: number } };
  newAtFinal: { tcp?: { accepted: number; sessions: number }; udp?: { datagramsIn: number } };
  error: string;
}

describe('startSuccessor + receiveHandover (the library), TCP and UDP under load, in a network namespace', () => {
  it('hands every listening socket over (the same inodes), loses no connection, no datagram beyond what the kernel drops (the first upgrade relays what it reads in transit), and the counters continue', async (t) => {
    if (skipWithoutNetns(t)) return;
    const ns = await createNetns(t);
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.tcp_migrate_req=0']);
    const result = await runNodeInNetns<LibraryResult>(ns, LIBRARY, ['8', '2'], 60_000);
    const { oldFinal, newAtFinal, ...rest } = result;
    t.diagnostic(`${JSON.stringify(rest)}; old final accepted ${oldFinal.tcp?.accepted}/${oldFinal.udp?.datagramsIn}, new at final ${newAtFinal.tcp?.accepted}/${newAtFinal.udp?.datagramsIn}`);
    assert.equal(result.error, '');
    assert.ok(result.tcpOk > 400 && result.udpAnswered > 400, 'the load ran');
    assert.deepEqual(result.failures, {});
    assert.equal(result.tcpFailed, 0);
    // 2 workers × (TCP + UDP): the same four kernel sockets after two upgrades.
    assert.equal(result.inodesBefore.length, 4);
    assert.deepEqual(result.inodesAfter, result.inodesBefore);
    // The first upgrade collects the UDP sockets the workers bound (this process reads them while
    // it does, and relays each datagram to its worker); from then on the primary holds them, and
    // nothing is read in transit.
    // (The fixture stops the old workers while it holds their sockets, until it read 20 datagrams.)
    const unanswered = result.udpSent - result.udpAnswered;
    t.diagnostic(`UDP: ${result.udpSent} sent, ${unanswered} not answered; kernel drops ${result.kernelDrops} (/proc/net/udp{,6}; Udp InErrors ${result.snmpInErrors}); read in transit ${result.transitRead}, relayed ${result.relayedDatagrams}`);
    assert.ok(unanswered <= result.kernelDrops, `${unanswered} datagrams not answered, beyond the ${result.kernelDrops} the kernel dropped`);
    assert.ok(result.transitRead >= 20, 'the first upgrade read datagrams in transit');
    assert.equal(result.transitDatagrams, 0, 'and lost none of them');
    assert.equal(result.relayedDatagrams, result.transitRead, 'every one relayed to its worker');
    assert.equal(result.secondTransit, 0);
    // Counters: the successor starts from the old process's totals and goes on.
    assert.ok((oldFinal.tcp?.accepted ?? 0) > 0 && (oldFinal.udp?.datagramsIn ?? 0) > 0);
    assert.ok((newAtFinal.tcp?.accepted ?? 0) > (oldFinal.tcp?.accepted ?? 0), 'the new process counts on from the old totals');
    assert.ok((newAtFinal.udp?.datagramsIn ?? 0) > (oldFinal.udp?.datagramsIn ?? 0));
    assert.ok(result.secondTcpAccepted >= (newAtFinal.tcp?.accepted ?? 0), 'and so does the one after it');
  });
});

describe('startSuccessor', () => {
  it('kills a successor that is not ready within the timeout: SWB_ERR_UPGRADE_FAILED', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swb-successor-'));
    const script = join(dir, 'never-ready.mjs');
    writeFileSync(script, 'setInterval(() => {}, 1000);\n');
    await assert.rejects(startSuccessor({ timeout: 300, command: { file: process.execPath, args: [script] } }), { code: 'SWB_ERR_UPGRADE_FAILED', message: /not ready within 300 ms; it was killed/ });
  });

  it('reports a successor that exits before it is ready', async () => {
    await assert.rejects(startSuccessor({ timeout: 5_000, command: { file: process.execPath, args: ['-e', 'process.exit(4)'] } }), { code: 'SWB_ERR_UPGRADE_FAILED', message: /exited \(code 4\) before it was ready/ });
  });

  it('hands the successor its UpgradeHandover when it asks: version, pid, sockets, counters and the extra state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'swb-handover-'));
    const out = join(dir, 'handover.json');
    const script = `process.on('message', (m) => { if (m.swb === 'upgrade-handover') { require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(m.handover)); process.send({ swb: 'upgrade-ready' }); } }); process.send({ swb: 'upgrade-hello' }); process.on('disconnect', () => process.exit(0))`;
    const successor = await within(startSuccessor({ state: { note: 'kept' } as never, command: { file: process.execPath, args: ['-e', script] } }), 'the successor', 10_000);
    successor.finish();
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), { note: 'kept', version: 1, pid: process.pid, sockets: [], stats: {} });
  });

  it('resolves once the successor reports ready; finish() sends the final counters and closes the channel', async () => {
    const script = "process.send({ swb: 'upgrade-ready' }); process.on('disconnect', () => process.exit(0))";
    const successor = await within(startSuccessor({ command: { file: process.execPath, args: ['-e', script] } }), 'the successor', 10_000);
    assert.equal(successor.process.connected, true, 'open for the final counters');
    successor.finish({ tcp: { accepted: 7 } as never });
    await until(() => !successor.process.connected, 'the channel to close', 5_000);
  });
});

describe('tcpMigrateReq', () => {
  it('reads the sysctl, and is undefined where there is none', () => {
    assert.ok([0, 1, undefined].includes(tcpMigrateReq()));
    assert.equal(tcpMigrateReq('/nonexistent'), undefined);
  });
});

describe('serveWorkers({ tcp: { systemd: true } }) under systemd-socket-activate', () => {
  it('the primary holds the passed socket, every worker serves it, set.addresses marks it origin systemd, and an upgrade hands the same socket on', { skip: !HAS_SOCKET_ACTIVATE && 'needs systemd-socket-activate' }, async (t) => {
    const fixture = fileURLToPath(new URL('./fixtures/systemd-primary.ts', import.meta.url));
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, process.execPath, fixture]);
    const pids = new Set<number>();
    t.after(() => {
      for (const pid of pids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    await greetPid(port, 10_000); // the first connection starts it
    const first = await activated.report<{ pid: number; workers: number[]; held: { fd: number; origin?: string }[]; addresses: BoundAddress[] }>('listening');
    pids.add(first.pid);
    assert.deepEqual(first.held.map(({ fd, origin }) => ({ fd, origin })), [{ fd: 3, origin: 'systemd' }]);
    // set.addresses marks the passed socket as the non-worker servers do: the manager's fd 3 and its name.
    const passed = { address: '127.0.0.1', port, family: 'IPv4', transport: 'tcp', origin: 'systemd', fd: 3, fdName: 'unknown' };
    assert.deepEqual(first.addresses, [passed]);
    const ss = (): string => execFileSyncText('ss', ['-ltnpeH', `sport = :${port}`]);
    const before = ss();
    assert.equal(before.trim().split('\n').length, 1, 'one socket');
    for (const pid of [first.pid, ...first.workers]) assert.match(before, new RegExp(`pid=${pid},`));
    const served = new Set(await Promise.all(Array.from({ length: 16 }, () => greetPid(port, 10_000))));
    assert.ok([...served].every((pid) => first.workers.includes(pid)));
    process.kill(first.pid, 'SIGUSR2');
    const from = activated.stdout.text.length;
    await until(() => activated.stdout.text.slice(from).includes('"event":"listening"'), 'the successor to serve', 20_000);
    const next = JSON.parse(activated.stdout.text.slice(from).trim().split('\n')[0] ?? '{}') as { pid: number; workers: number[]; addresses: BoundAddress[] };
    pids.add(next.pid);
    assert.deepEqual(next.addresses, [passed], 'the successor holds it as fd 3 too, and reports it the same way');
    await until(() => !processAlive(first.pid), 'the old primary to exit', 5_000);
    const after = ss();
    assert.equal(/ino:(\d+)/.exec(after)?.[1], /ino:(\d+)/.exec(before)?.[1], 'the same socket');
    const servedAfter = await Promise.all(Array.from({ length: 8 }, () => greetPid(port, 10_000)));
    assert.ok(servedAfter.every((pid) => next.workers.includes(pid)), 'served by the new workers');
    process.kill(next.pid, 'SIGTERM');
  });
});

describe('processAlive (the helper behind "the old pid gone")', () => {
  it('counts a zombie as gone: an orphaned old process waits for pid 1 to reap it, which says nothing about when it exited', async (t) => {
    if (process.platform !== 'linux') return t.skip('reads /proc');
    // The background sleep exits after 0.2 s; its parent, exec'd into `sleep 5`, never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    t.after(() => parent.kill('SIGKILL'));
    let text = '';
    parent.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    await until(() => /\d+\n/.test(text), 'the pid', 5_000);
    const pid = Number(text.trim());
    assert.equal(processAlive(pid), true);
    const state = (): string => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      } catch {
        return 'gone';
      }
    };
    await until(() => state() === 'Z', 'the child to be a zombie', 5_000);
    assert.equal(processAlive(pid), false);
  });
});
