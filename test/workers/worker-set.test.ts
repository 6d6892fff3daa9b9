import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { describe, it, type TestContext } from 'node:test';
import { hasSs, until, within } from '../helpers/net.ts';
import { processAlive as alive } from '../helpers/process-alive.ts';
import { greetingPid } from './fixtures/short-connection.ts';
import { serveWorkers, type ServeWorkersOptions, type WorkerSet } from '../../src/workers/worker-set.ts';
import { workerSetMetrics } from '../../src/workers/worker-metrics.ts';

const MODULE = new URL('./fixtures/pid-echo.ts', import.meta.url);

async function start(t: TestContext, options: Partial<ServeWorkersOptions> = {}): Promise<WorkerSet> {
  const set = await within(serveWorkers({ module: MODULE, workers: 2, tcp: { host: '127.0.0.1', port: 0 }, ...options }), 'the workers to start', 20_000);
  t.after(() => set.destroy());
  return set;
}

const greet = (port: number): Promise<number> => greetingPid(port);

describe('serveWorkers', () => {
  it('binds one SO_REUSEPORT socket per worker (mode reuseport): ss shows one per worker pid', { skip: !hasSs && 'needs ss' }, async (t) => {
    const set = await start(t, { mode: 'reuseport' });
    const port = set.addresses[0]?.port;
    const lines = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(lines.length, 2, lines.join('\n'));
    for (const { pid } of set.workers()) assert.ok(lines.some((line) => line.includes(`pid=${pid},`)), `a listener of worker ${pid}:\n${lines.join('\n')}`);
    // The primary holds each of them too (it bound them; it never accepts on them).
    for (const line of lines) assert.ok(line.includes(`pid=${process.pid},`), `held by the primary:\n${line}`);
    assert.deepEqual(
      set.heldSockets().map(({ transport, port: held, slot }) => ({ transport, port: held, slot })),
      [
        { transport: 'tcp', port, slot: 0 },
        { transport: 'tcp', port, slot: 1 },
      ],
    );
  });

  it('keeps a dead worker\'s socket (mode reuseport): the connections queued while it is gone wait for its replacement, on the same socket', { skip: !hasSs && 'needs ss' }, async (t) => {
    const set = await start(t, { mode: 'reuseport', respawn: { initialDelay: 800 } });
    const port = set.addresses[0]?.port ?? 0;
    const inodes = (): string[] => [...execFileSync('ss', ['-ltneH', `sport = :${port}`], { encoding: 'utf8' }).matchAll(/ino:(\d+)/g)].map((m) => m[1]!).sort();
    const before = inodes();
    const [victim] = set.workers();
    process.kill(victim!.pid, 'SIGKILL');
    await until(() => !set.workers().some((w) => w.pid === victim!.pid), 'the worker to be gone', 5_000);
    // 40 connections while one of the two sockets has nobody accepting: about half hash to it.
    const pids = await within(Promise.all(Array.from({ length: 40 }, (_, n) => greet(port).then((pid) => ({ n, pid })))), 'every connection greeted', 15_000);
    const replacement = set.workers().find((w) => w.slot === victim!.slot)?.pid;
    assert.ok(replacement !== undefined && pids.some(({ pid }) => pid === replacement), 'the replacement served the queued ones');
    assert.deepEqual(inodes(), before, 'the same two sockets');
  });

  it('shares one socket held by the primary in mode cluster', { skip: !hasSs && 'needs ss' }, async (t) => {
    const set = await start(t, { mode: 'cluster' });
    const lines = execFileSync('ss', ['-ltnpH', `sport = :${set.addresses[0]?.port}`], { encoding: 'utf8' }).trim().split('\n');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', new RegExp(`pid=${process.pid},`));
    const pids = new Set(await Promise.all(Array.from({ length: 8 }, () => greet(set.addresses[0]?.port ?? 0))));
    assert.equal(pids.size, 2, 'round-robin reaches both workers');
  });

  it('spreads 10,000 short connections from 16 clients with max/min under 1.25, and stats() is the sum', async (t) => {
    const set = await start(t, { mode: 'reuseport' });
    const port = set.addresses[0]?.port ?? 0;
    const perPid = new Map<number, number>();
    let next = 0;
    await within(
      Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next++ < 10_000) {
            const pid = await greet(port);
            perPid.set(pid, (perPid.get(pid) ?? 0) + 1);
          }
        }),
      ),
      '10,000 connections',
      60_000,
    );
    const counts = [...perPid.values()];
    const spread = Math.max(...counts) / Math.min(...counts);
    t.diagnostic(`per worker ${JSON.stringify(Object.fromEntries(perPid))}, max/min ${spread.toFixed(3)}`);
    assert.equal(counts.length, 2);
    assert.ok(spread < 1.25, `spread ${spread}`);
    const byWorker = await set.statsByWorker();
    for (const entry of byWorker) assert.equal(entry.stats.tcp?.accepted, perPid.get(entry.pid));
    const total = await set.stats();
    assert.equal(total.tcp?.accepted, 10_000);
    assert.equal(total.workers, 2);
    const scrape = await workerSetMetrics(set, { service: 'pid-echo' });
    assert.match(scrape, new RegExp(`^switchboard_connections_accepted_total\\{service="pid-echo",transport="tcp",listener="127\\.0\\.0\\.1:${port}"\\} 10000$`, 'm'));
    assert.match(scrape, /^switchboard_listeners\{[^}]*\} 2$/m);
  });

  it('spreads datagrams from many source ports over the workers (reuseport)', async (t) => {
    const set = await start(t, { mode: 'reuseport', tcp: false, udp: { host: '127.0.0.1', port: 0 } });
    const port = set.addresses.find((a) => a.transport === 'udp')?.port ?? 0;
    const pids = new Set<string>();
    for (let i = 0; i < 32 && pids.size < 2; i++) {
      const socket = createSocket('udp4');
      socket.send(`hi ${i}`, port, '127.0.0.1');
      const [reply] = (await within(once(socket, 'message'), 'a reply')) as [Buffer];
      pids.add(reply.toString().split(' ')[0] ?? '');
      socket.close();
    }
    assert.equal(pids.size, 2, 'both workers answered');
  });

  it('replaces a worker killed with SIGKILL after the back-off, with 0 errors on the other worker\'s sessions', async (t) => {
    const set = await start(t, { respawn: { initialDelay: 200 } });
    const port = set.addresses[0]?.port ?? 0;
    const [victim, survivor] = set.workers();
    assert.ok(victim && survivor);
    // Long-lived sessions, kept only those the survivor serves.
    const sessions: { socket: Socket; errors: number; lines: number }[] = [];
    while (sessions.length < 4) {
      const socket = connect(port, '127.0.0.1');
      const [greeting] = (await within(once(socket, 'data'), 'a greeting')) as [Buffer];
      if (!greeting.toString().includes(`pid ${survivor.pid}`)) {
        socket.destroy();
        continue;
      }
      const session = { socket, errors: 0, lines: 0 };
      socket.on('error', () => session.errors++).on('data', () => session.lines++);
      sessions.push(session);
    }
    const before = await set.stats();
    const respawned = once(set, 'respawn');
    const replaced = once(set, 'worker');
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const [respawn] = (await within(respawned, 'the respawn event')) as [{ slot: number; delay: number; signal: string }];
    assert.deepEqual([respawn.slot, respawn.delay, respawn.signal], [victim.slot, 200, 'SIGKILL']);
    // The survivor's sessions keep exchanging lines while the slot is down and back.
    const exchange = setInterval(() => sessions.forEach((s) => s.socket.write('ping\n')), 20);
    await within(replaced, 'the replacement worker', 15_000);
    clearInterval(exchange);
    assert.ok(Date.now() - killedAt >= 200, 'the back-off was waited');
    const now = set.workers();
    assert.equal(now.length, 2);
    assert.ok(!now.some((w) => w.pid === victim.pid));
    assert.ok(now.some((w) => w.pid === survivor.pid));
    for (const session of sessions) {
      assert.equal(session.errors, 0);
      assert.ok(session.lines > 0);
      assert.ok(!session.socket.destroyed);
      session.socket.destroy();
    }
    const after = await set.stats();
    assert.ok((after.tcp?.accepted ?? 0) >= (before.tcp?.accepted ?? 0), 'accepted stays monotonic across the restart');
    assert.equal(after.respawns, 1);
    assert.ok(new Set(await Promise.all(Array.from({ length: 16 }, () => greet(port)))).size >= 1);
  });

  it('a worker sent SIGTERM drains, exits 0 and is replaced; SIGINT and SIGHUP leave it serving', async (t) => {
    const set = await start(t, { workers: 1, respawn: { initialDelay: 10 } });
    const [worker] = set.workers();
    assert.ok(worker);
    process.kill(worker.pid, 'SIGINT');
    process.kill(worker.pid, 'SIGHUP');
    const respawned = once(set, 'respawn');
    process.kill(worker.pid, 'SIGTERM');
    const [respawn] = (await within(respawned, 'the respawn after SIGTERM', 10_000)) as [{ pid: number; code: number | null; signal: string | null }];
    assert.deepEqual([respawn.pid, respawn.code, respawn.signal], [worker.pid, 0, null], 'it exited by itself (drained), not by the signal');
    await within(once(set, 'worker'), 'the replacement', 15_000);
  });

  it('stops respawning a crash-looping slot with SWB_ERR_WORKER_CRASH_LOOP; the other worker keeps serving', async (t) => {
    const set = await start(t, { workers: 1, respawn: { initialDelay: 1, maxDelay: 1, crashLoopExits: 3 } });
    const port = set.addresses[0]?.port ?? 0;
    const errors: { code: string }[] = [];
    set.on('error', (error) => errors.push(error));
    // From now on every new worker dies right after it starts.
    const first = set.workers()[0];
    assert.ok(first);
    process.env.CRASH_AFTER = '0';
    t.after(() => delete process.env.CRASH_AFTER);
    process.kill(first.pid, 'SIGKILL');
    await until(() => errors.length > 0, 'the crash-loop error', 15_000);
    assert.equal(errors[0]?.code, 'SWB_ERR_WORKER_CRASH_LOOP');
    assert.equal(set.workers().length, 0);
    void port;
  });

  it('rejects with SWB_ERR_WORKER_START_FAILED when the module fails to load, leaving no worker', async () => {
    await assert.rejects(serveWorkers({ module: MODULE, workers: 2, tcp: { host: '127.0.0.1', port: 0 }, env: { CRASH_ON_START: '1' } }), { code: 'SWB_ERR_WORKER_START_FAILED', message: /fails at start/ });
  });

  it('close({ timeout }) drains every worker and resolves once all have exited', async (t) => {
    const set = await start(t);
    const pids = set.workers().map((w) => w.pid);
    const socket = connect(set.addresses[0]?.port ?? 0, '127.0.0.1');
    await within(once(socket, 'data'), 'a greeting');
    const closed = set.close({ timeout: 300 });
    await within(once(socket, 'close'), 'the session to be closed by the drain');
    await within(closed, 'close()');
    for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} exited`);
  });

  it('leaves no worker behind when the primary is killed with SIGKILL', async () => {
    const primary = spawn(process.execPath, [new URL('./fixtures/primary.ts', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await within(once(primary.stdout, 'data'), 'the primary to start', 20_000)) as [Buffer];
    const { pids } = JSON.parse(line.toString()) as { pids: number[] };
    assert.equal(pids.length, 2);
    primary.kill('SIGKILL');
    await until(() => pids.every((pid) => !alive(pid)), 'the orphaned workers to exit', 8_000);
  });
});
