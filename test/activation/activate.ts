/**
 * Helpers for the socket-activation tests: a port free for every socket the test asks
 * `systemd-socket-activate` to open, and that program run as a child whose output is collected
 * by line, retried on the rare port taken between the probe and its bind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hasProgram, LineCollector, type Exit } from '../cli/cli-process.ts';
import { within } from '../helpers/net.ts';

/** The fixtures folder. */
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Whether the real peers are installed (Debian's systemd package). */
export const HAS_SOCKET_ACTIVATE = hasProgram('systemd-socket-activate');
export const HAS_SYSTEMD_NOTIFY = hasProgram('systemd-notify');

/** A socket kind to keep free on one loopback address. */
export type PortUse = 'tcp4' | 'tcp6' | 'udp4' | 'udp6';

/**
 * A port that each of `uses` can bind on its loopback address: the first binds port 0, the
 * others the same port; a collision closes them all and tries again (bounded). All are closed
 * before it resolves.
 */
export async function freePort(uses: readonly PortUse[], attempts = 20): Promise<number> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const held: (Server | DatagramSocket)[] = [];
    let port = 0;
    try {
      for (const use of uses) {
        const bound = await bindLoopback(use, port);
        held.push(bound.handle);
        port = bound.port;
      }
      return port;
    } catch {
      // taken for one of the uses: try another port
    } finally {
      await Promise.all(held.map((handle) => new Promise<void>((resolve) => handle.close(() => resolve()))));
    }
  }
  throw new Error(`no port free for ${uses.join(', ')} in ${attempts} attempts`);
}

function bindLoopback(use: PortUse, port: number): Promise<{ handle: Server | DatagramSocket; port: number }> {
  const host = use.endsWith('6') ? '::1' : '127.0.0.1';
  return new Promise((resolve, reject) => {
    if (use.startsWith('tcp')) {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => resolve({ handle: server, port: (server.address() as { port: number }).port }));
    } else {
      const socket = createSocket(use === 'udp6' ? 'udp6' : 'udp4');
      socket.once('error', (error) => socket.close(() => reject(error)));
      socket.bind({ address: host, port, exclusive: true }, () => resolve({ handle: socket, port: socket.address().port }));
    }
  });
}

/** A running `systemd-socket-activate`, which becomes (or spawns) the program it runs. */
export class ActivatedProcess {
  readonly child: ChildProcess;
  readonly stdout = new LineCollector();
  readonly stderr = new LineCollector();
  readonly exited: Promise<Exit>;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv) {
    this.child = spawn('systemd-socket-activate', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => this.stdout.push(text));
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => this.stderr.push(text));
    this.child.stdout!.on('end', () => this.stdout.end());
    this.child.stderr!.on('end', () => this.stderr.end());
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
  }

  /** The first JSON line on stdout whose `event` is `event`. */
  async report<T = Record<string, unknown>>(event: string, ms = 15_000): Promise<T> {
    const line = await this.stdout.waitFor(new RegExp(`^\\{"event":"${event}"`), `a ${event} report`, ms).catch((error: Error) => {
      throw new Error(`${error.message}\nstderr:\n${this.stderr.text}`);
    });
    return JSON.parse(line) as T;
  }

  /** Waits for the exit (bounded). */
  exit(ms?: number): Promise<Exit> {
    return within(this.exited, 'systemd-socket-activate (or its program) to exit', ms);
  }
}

/**
 * Starts `systemd-socket-activate ARGS(port)…` on a port free for `uses`, once it printed
 * `listeners` "Listening on" lines; a port taken meanwhile is retried with another (bounded).
 * Killed after the test if still running.
 */
export async function socketActivate(
  t: TestContext,
  uses: readonly PortUse[],
  listeners: number,
  args: (port: number) => readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ activated: ActivatedProcess; port: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort(uses);
    const activated = new ActivatedProcess(args(port), { ...process.env, ...env });
    t.after(async () => {
      if (activated.child.exitCode === null && activated.child.signalCode === null) activated.child.kill('SIGKILL');
      await within(activated.exited, 'systemd-socket-activate to exit after the test');
    });
    // Each socket gives one line: "Listening on …", or "Failed to listen on …" (then it exits).
    const outcome = await activated.stderr.waitForCount(/^(Listening on|Failed to) /, listeners, 'lines about the sockets', 10_000).then(
      () => undefined,
      (error: Error) => error,
    );
    if (!/^Failed to /m.test(activated.stderr.text)) {
      if (outcome !== undefined) throw outcome;
      return { activated, port };
    }
    if (!/Address already in use/.test(activated.stderr.text)) throw new Error(`systemd-socket-activate failed:\n${activated.stderr.text}`);
    await activated.exit();
  }
  throw new Error('systemd-socket-activate found no free port in 5 attempts');
}

/** One datagram the receiver got. */
export interface Received {
  /** Arrival, CLOCK_MONOTONIC in ns (the clock of process.hrtime). */
  readonly t: number;
  readonly pid: number | null;
  readonly message: string;
}

/** A temporary folder removed after the test. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'swb-notify-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts the Python receiver; stopped (stdin closed) after the test. */
export async function startReceiver(t: TestContext, openToAll = false) {
  const dir = tempDir(t);
  if (openToAll) chmodSync(dir, 0o755);
  const path = join(dir, 'notify.sock');
  const child = spawn('python3', [`${FIXTURES}notify-receiver.py`, path, ...(openToAll ? ['--open'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = new LineCollector();
  child.stdout.setEncoding('utf8').on('data', (text: string) => lines.push(text));
  child.stdout.on('end', () => lines.end());
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  t.after(async () => {
    child.stdin.end();
    await within(exited, 'the receiver to exit');
  });
  await lines.waitFor(/"event": "ready"/, 'the receiver to bind');
  return {
    path,
    /** Resolves with the messages whose JSON line matches `pattern`, once there are `count`. */
    async waitFor(pattern: RegExp, count = 1, ms?: number): Promise<Received[]> {
      const matching = await lines.waitForCount(new RegExp(`"event": "message".*${pattern.source}`), count, `message(s) matching ${pattern}`, ms);
      return matching.map((line) => JSON.parse(line) as Received);
    },
    /** The text of every message received so far. */
    messages(): string[] {
      return lines.lines.filter((line) => line.includes('"event": "message"')).map((line) => (JSON.parse(line) as Received).message);
    },
  };
}
