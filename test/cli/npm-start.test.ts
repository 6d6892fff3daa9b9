/**
 * `npm start` under a process manager: docker and systemd signal npm's pid, and the server must
 * stop with it rather than live on, reparented to PID 1 and still listening. A terminal's Ctrl-C
 * (or systemd's SIGTERM to the whole unit) reaches npm and the server both, and npm forwards its
 * copy: the server must take the pair as one request and close gracefully.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { parseProcStat } from '../../src/cli/exec/process-group.ts';
import { connectClient, within } from '../helpers/net.ts';
import { LineCollector, ROOT, parseListening } from './cli-process.ts';

const NPM_AVAILABLE = spawnSync('npm', ['--version'], { stdio: 'ignore' }).status === 0;
/** npm and a server that drains: its startup and the close are all inside this bound. */
const NPM_WAIT_MS = 15_000;

/** `npm start -- ARGS…` in the checkout; every process it started is killed after the test. */
function npmStart(t: TestContext, args: readonly string[], options: { detached?: boolean } = {}) {
  const npm = spawn('npm', ['start', '--', ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', npm_config_update_notifier: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  const stdout = new LineCollector();
  const stderr = new LineCollector();
  npm.stdout!.setEncoding('utf8').on('data', (text: string) => stdout.push(text)).on('end', () => stdout.end());
  npm.stderr!.setEncoding('utf8').on('data', (text: string) => stderr.push(text)).on('end', () => stderr.end());
  // 'close': npm has exited and every process holding its output (the server too) is gone.
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => npm.once('close', (code, signal) => resolve({ code, signal })));
  const started: number[] = [];
  t.after(() => {
    for (const pid of [npm.pid!, ...started]) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  return { npm, stdout, stderr, closed, started };
}

/** Waits for the server's listening line; returns its port and the processes npm started. */
async function serverUp(npm: ChildProcess, stdout: LineCollector, started: number[]): Promise<number> {
  const line = await stdout.waitFor(/^listening tcp /, 'the listening line', NPM_WAIT_MS);
  started.push(...descendantsOf(npm.pid!));
  assert.ok(started.length > 0, 'npm started the server');
  return parseListening(line).port;
}

/** Every process below `pid`, from /proc. */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0; ) {
    const next = children.get(queue.shift()!) ?? [];
    found.push(...next);
    queue.push(...next);
  }
  return found;
}

function readStat(pid: number) {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a process that still runs (not gone, not a zombie). */
function isAlive(pid: number): boolean {
  const state = readStat(pid)?.state;
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** Resolves with the error code of a connection attempt to `port` (undefined when it connected). */
function connectOutcome(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
  });
}

describe('npm start', () => {
  it('stops the server when only npm gets SIGTERM, leaving nothing running or listening', async (t) => {
    if (!NPM_AVAILABLE) return t.skip('SKIPPED LOUDLY: npm is not on PATH');
    if (!existsSync('/proc/self/stat')) return t.skip('SKIPPED LOUDLY: no /proc to find the server process');
    const { npm, stdout, closed, started } = npmStart(t, ['serve', 'echo', '--listen', '127.0.0.1:0']);
    const port = await serverUp(npm, stdout, started);

    process.kill(npm.pid!, 'SIGTERM');
    await within(closed, 'npm and the server to exit', NPM_WAIT_MS);
    assert.deepEqual(started.filter(isAlive), [], 'no process npm started is still running');
    assert.equal(await within(connectOutcome(port), 'a connection attempt'), 'ECONNREFUSED', 'the port is closed');
    assert.match(stdout.text, /^closing on SIGTERM: /m);
    assert.match(stdout.text, /^closed$/m);
  });

  it("closes gracefully on a Ctrl-C to npm's process group, though the server gets SIGINT twice", async (t) => {
    if (!NPM_AVAILABLE) return t.skip('SKIPPED LOUDLY: npm is not on PATH');
    if (!existsSync('/proc/self/stat')) return t.skip('SKIPPED LOUDLY: no /proc to find the server process');
    // Its own process group, as a terminal's foreground job; a terminal sends SIGINT to all of it.
    const { npm, stdout, stderr, closed, started } = npmStart(t, ['serve', 'echo', '--drain-timeout', '1s', '--listen', '127.0.0.1:0'], { detached: true });
    const port = await serverUp(npm, stdout, started);
    // A half-open client that never closes its side keeps the drain going to its deadline, so
    // npm's forwarded copy arrives while the server is still closing.
    const client = await connectClient(t, port, '127.0.0.1', { allowHalfOpen: true });
    client.send('x');
    await client.waitForBytes(1);

    process.kill(-npm.pid!, 'SIGINT');
    assert.deepEqual(await within(closed, 'npm and the server to exit', NPM_WAIT_MS), { code: 0, signal: null });
    assert.match(stdout.text, /^closing on SIGINT: /m);
    assert.doesNotMatch(stderr.text, /again/, 'the forwarded copy is not a second request');
    assert.match(stdout.text, /^closed$/m);
  });
});
