/**
 * `switchboard run MODULE --workers N` on the sockets a service manager passed (issue 15):
 * under the real `systemd-socket-activate`, `--listen-fds` and `--listen systemd:NAME` have
 * every worker serve the one passed socket, and an upgrade (SIGUSR2) hands the same socket on
 * with no failed connection; `--inetd`, and passed sockets mixed with an address, are refused.
 * `switchboard up` with `workers` on `systemd:NAME`: a reload (SIGHUP) starts the new workers on
 * the same passed socket, which the new set takes over from the old one, with no failed connection.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HAS_SOCKET_ACTIVATE, socketActivate } from '../activation/activate.ts';
import { MAIN, NODE_FLAGS, startCli } from '../cli/cli-process.ts';
import { until } from '../helpers/net.ts';
import { processAlive } from '../helpers/process-alive.ts';
import { greetingPid, shortConnection } from './fixtures/short-connection.ts';

const PID_ECHO = fileURLToPath(new URL('./fixtures/pid-echo.ts', import.meta.url));
const SWITCHBOARD = [process.execPath, ...NODE_FLAGS, MAIN];
const WORKERS_LINE = /^2 workers \(mode reuseport\): pids (\d+) (\d+)$/;
const skip = !HAS_SOCKET_ACTIVATE && 'needs systemd-socket-activate';

/** The listening sockets on 127.0.0.1:`port`, one `ss -e` line each. */
function listeningOn(port: number): string[] {
  return execFileSync('ss', ['-ltnpeH', `sport = :${port}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
}

/** Runs `clients` connect → greeting → close loops until `stop()`; each bounded at 60 s. */
function connectLoop(port: number, clients: number): { outcomes: { ok: number; failed: string[] }; stop: () => Promise<void> } {
  let running = true;
  const outcomes = { ok: 0, failed: [] as string[] };
  const client = async (): Promise<void> => {
    const deadline = performance.now() + 60_000;
    while (running && performance.now() < deadline) {
      const why = await shortConnection(port);
      if (why === undefined) outcomes.ok++;
      else outcomes.failed.push(why);
    }
  };
  const loops = Array.from({ length: clients }, client);
  return {
    outcomes,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Greets in batches of 16 concurrent connections until every pid of `pids` answered (bounded); returns who did. */
async function answeredBy(port: number, pids: readonly number[]): Promise<Set<number>> {
  const seen = new Set<number>();
  for (let batch = 0; batch < 40 && !pids.every((pid) => seen.has(pid)); batch++) {
    for (const pid of await Promise.all(Array.from({ length: 16 }, () => greetingPid(port, 10_000)))) seen.add(pid);
  }
  return seen;
}

/**
 * Starts `systemd-socket-activate -l 127.0.0.1:PORT [activator flags] switchboard run PID_ECHO
 * --workers 2 ARGS`, makes the first connection (which starts it), and reads its workers line.
 * Every process it leaves (a successor is not the activator's child) is killed after the test.
 */
async function activatedWorkers(t: import('node:test').TestContext, activatorFlags: readonly string[], args: readonly string[]) {
  const pids = new Set<number>();
  t.after(() => {
    for (const pid of pids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, ...activatorFlags, ...SWITCHBOARD, 'run', PID_ECHO, '--workers', '2', '--drain-timeout', '1s', ...args]);
  await greetingPid(port, 20_000); // the first connection starts it
  const line = await activated.stdout.waitFor(WORKERS_LINE, 'the workers line', 20_000);
  const workers = line.replace(/.*pids /, '').split(' ').map(Number);
  const primary = activated.child.pid!;
  for (const pid of [primary, ...workers]) pids.add(pid);
  return { activated, port, primary, workers, pids };
}

describe('switchboard run --workers on passed sockets (systemd-socket-activate)', () => {
  it('--listen-fds: both workers serve the one passed socket, and SIGUSR2 hands the same socket on with 0 failed connections', { skip }, async (t) => {
    const { activated, port, primary, workers, pids } = await activatedWorkers(t, [], ['--listen-fds']);
    assert.match(activated.stdout.text, new RegExp(`^listening tcp 127\\.0\\.0\\.1:${port} `, 'm'));
    const before = listeningOn(port);
    assert.equal(before.length, 1, `one listening socket, the activator's:\n${before.join('\n')}`);
    for (const pid of [primary, ...workers]) assert.match(before[0]!, new RegExp(`pid=${pid},fd=`), `pid ${pid} holds it`);
    const inode = /ino:(\d+)/.exec(before[0]!)?.[1];
    assert.ok(inode);
    assert.deepEqual([...(await answeredBy(port, workers))].sort(), [...workers].sort(), 'both workers answered');

    // A bounded connect loop (2 clients) across the upgrade: from before SIGUSR2 until the new workers answer alone.
    const load = connectLoop(port, 2);
    const { outcomes } = load;
    const from = activated.stdout.lines.length;
    try {
      await until(() => outcomes.ok >= 20, 'connections before the upgrade', 10_000);
      process.kill(primary, 'SIGUSR2');
      const newLine = await activated.stdout.waitFor(WORKERS_LINE, "the new version's workers line", 30_000, from);
      const newWorkers = newLine.replace(/.*pids /, '').split(' ').map(Number);
      for (const pid of newWorkers) pids.add(pid);
      await until(() => !processAlive(primary) && workers.every((pid) => !processAlive(pid)), 'the old primary and workers to exit', 15_000);
      const servedAfter = outcomes.ok;
      await until(() => outcomes.ok >= servedAfter + 20, 'connections after the upgrade', 10_000);
      await load.stop();
      assert.deepEqual(outcomes.failed, [], `${outcomes.failed.length} of ${outcomes.ok + outcomes.failed.length} connections failed`);

      const after = listeningOn(port);
      assert.equal(after.length, 1, `still one listening socket:\n${after.join('\n')}`);
      assert.equal(/ino:(\d+)/.exec(after[0]!)?.[1], inode, 'the same socket (inode) after the upgrade');
      const holders = [...after[0]!.matchAll(/pid=(\d+),/g)].map((match) => Number(match[1]));
      const successor = holders.find((pid) => !newWorkers.includes(pid))!;
      assert.deepEqual(holders.sort(), [successor, ...newWorkers].sort(), 'held by the new primary and its workers only');
      pids.add(successor);
      assert.deepEqual([...(await answeredBy(port, newWorkers))].sort(), [...newWorkers].sort(), 'both new workers answered');
      process.kill(successor, 'SIGTERM');
      await until(() => [successor, ...newWorkers].every((pid) => !processAlive(pid)), 'the new version to stop', 10_000);
    } finally {
      await load.stop();
    }
  });

  it('--listen systemd:NAME: the workers serve the socket of that name (--fdname)', { skip }, async (t) => {
    const { port, primary, workers } = await activatedWorkers(t, ['--fdname=web'], ['--listen', 'systemd:web']);
    assert.deepEqual([...(await answeredBy(port, workers))].sort(), [...workers].sort());
    process.kill(primary, 'SIGTERM');
    await until(() => [primary, ...workers].every((pid) => !processAlive(pid)), 'it to stop', 10_000);
  });

  it('--listen systemd:NAME that no passed fd has: exits 1 naming the fd names there are', { skip }, async (t) => {
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, '--fdname=web', ...SWITCHBOARD, 'run', PID_ECHO, '--workers', '2', '--listen', 'systemd:api']);
    void shortConnection(port); // starts it
    const exit = await activated.exit(20_000);
    assert.equal(exit.code, 1, activated.stderr.text);
    assert.match(activated.stderr.text, /socket activation: no passed fd is named "api" \(the names are: web\)/);
  });
});

describe('switchboard up with workers on systemd:NAME (systemd-socket-activate)', () => {
  it('serves the passed socket from the workers; each SIGHUP that replaces them starts the new set on the same socket, which it takes over: 0 failed connections, the same inode; off workers is refused', { skip }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'swb-up-systemd-workers-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'switchboard.toml');
    const config = (maxClients: number): string => `[services.pids]\nmodule = ${JSON.stringify(PID_ECHO)}\nlisten = ["systemd:web"]\nworkers = 2\nmax-clients = ${maxClients}\n`;
    writeFileSync(file, config(100));
    const pids = new Set<number>();
    t.after(() => {
      for (const pid of pids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, '--fdname=web', ...SWITCHBOARD, 'up', file, '--drain-timeout', '1s']);
    await greetingPid(port, 20_000); // the first connection starts it
    const up = activated.child.pid!;
    const workersLine = /^pids: 2 workers \(mode reuseport\): pids (\d+) (\d+)$/;
    const workersOf = (line: string): number[] => line.replace(/.*pids /, '').split(' ').map(Number);
    let workers = workersOf(await activated.stdout.waitFor(workersLine, 'the workers line', 20_000));
    for (const pid of workers) pids.add(pid);
    // The set reports the passed socket as a server in one process does (origin, fd, name).
    assert.match(activated.stdout.text, new RegExp(`^listening tcp 127\\.0\\.0\\.1:${port} pids \\(systemd fd 3 "web"\\)$`, 'm'));
    const before = listeningOn(port);
    assert.equal(before.length, 1, `one listening socket, the activator's:\n${before.join('\n')}`);
    for (const pid of [up, ...workers]) assert.match(before[0]!, new RegExp(`pid=${pid},fd=`), `pid ${pid} holds it`);
    const inode = /ino:(\d+)/.exec(before[0]!)?.[1];
    assert.ok(inode);

    const load = connectLoop(port, 2);
    try {
      await until(() => load.outcomes.ok >= 20, 'connections before the reload', 10_000);
      // Two reloads: the set that took the socket over hands it on in turn.
      for (const maxClients of [101, 102]) {
        const from = activated.stdout.lines.length;
        writeFileSync(file, config(maxClients));
        process.kill(up, 'SIGHUP');
        await activated.stdout.waitFor(/^reloaded /, 'the reload', 30_000, from);
        assert.match(activated.stdout.lines.slice(from).join('\n'), /reload: pids: replaced by 2 new worker\(s\) beside the old ones/);
        const next = workersOf(await activated.stdout.waitFor(workersLine, "the new set's workers line", 20_000, from));
        for (const pid of next) pids.add(pid);
        await until(() => workers.every((pid) => !processAlive(pid)), 'the old workers to drain and exit', 15_000);
        const served = load.outcomes.ok;
        await until(() => load.outcomes.ok >= served + 20, 'connections after the reload', 10_000);
        const after = listeningOn(port);
        assert.equal(after.length, 1, `still one listening socket:\n${after.join('\n')}`);
        assert.equal(/ino:(\d+)/.exec(after[0]!)?.[1], inode, 'the same socket (inode), never reopened');
        const holders = [...after[0]!.matchAll(/pid=(\d+),/g)].map((match) => Number(match[1]));
        assert.deepEqual([...new Set(holders)].sort(), [up, ...next].sort(), 'held by up and the new workers only');
        assert.deepEqual([...(await answeredBy(port, next))].sort(), [...next].sort(), 'both new workers answered');
        workers = next;
      }
    } finally {
      await load.stop();
    }
    t.diagnostic(`${load.outcomes.ok} connections across 2 reloads, ${load.outcomes.failed.length} failed`);
    assert.deepEqual(load.outcomes.failed, [], `${load.outcomes.failed.length} of ${load.outcomes.ok + load.outcomes.failed.length} connections failed`);
    // Off workers, into up's own process: nothing can hand a passed fd over between the two, so the service stays as it is.
    const from = activated.stdout.lines.length;
    writeFileSync(file, config(102).replace('workers = 2\n', ''));
    process.kill(up, 'SIGHUP');
    await activated.stdout.waitFor(/^reloaded /, 'the reload', 30_000, from);
    await activated.stderr.waitFor(/reload: pids: workers → one process, but it serves passed sockets \(systemd:NAME\).*: it keeps running unchanged/, 'the refusal', 5_000);
    assert.deepEqual([...(await answeredBy(port, workers))].sort(), [...workers].sort(), 'the same workers serve on');
    process.kill(up, 'SIGTERM');
    await until(() => [up, ...workers].every((pid) => !processAlive(pid)), 'up and its workers to stop', 15_000);
  });
});

describe('switchboard run --workers: passed sockets it refuses (exit 2)', () => {
  it('refuses --inetd (one connection) with SWB_ERR_WORKERS_ACTIVATION', async (t) => {
    for (const args of [['--inetd'], ['--inetd', '--listen', '127.0.0.1:0']]) {
      const cli = startCli(t, ['run', PID_ECHO, '--workers', '2', ...args]);
      const exit = await cli.exit(20_000);
      assert.equal(exit.code, 2, cli.stderr.text);
      assert.match(cli.stderr.text, /--inetd does not go with workers \(SWB_ERR_WORKERS_ACTIVATION\): it serves the one connection the service manager accepted/);
    }
  });

  it('refuses passed sockets mixed with an address, and a SERVICE= prefix', async (t) => {
    const cases: [readonly string[], RegExp][] = [
      [['--listen-fds', '--listen', '127.0.0.1:0'], /--listen 127\.0\.0\.1:0 with --listen-fds does not go with workers \(SWB_ERR_WORKERS_ACTIVATION\): workers serve either the passed sockets or one address/],
      [['--listen', 'systemd:web', '--listen', '127.0.0.1:0'], /--listen 127\.0\.0\.1:0 with --listen systemd:web does not go with workers \(SWB_ERR_WORKERS_ACTIVATION\)/],
      [['--listen', 'echo=systemd:web'], /run takes no SERVICE= prefix/],
      [['--listen', '127.0.0.1:0', '--listen', '127.0.0.1:0'], /--workers needs exactly one --listen ADDRESS \(or --listen-fds, --listen systemd:NAME\)/],
    ];
    for (const [args, message] of cases) {
      const cli = startCli(t, ['run', PID_ECHO, '--workers', '2', ...args]);
      const exit = await cli.exit(20_000);
      assert.equal(exit.code, 2, cli.stderr.text);
      assert.match(cli.stderr.text, message);
    }
  });
});
