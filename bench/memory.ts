/**
 * Memory per session and allocation per message, in both styles against raw node:net:
 *
 * - idle: heap and RSS growth per open, idle session (each proved with one echo), read by the
 *   server itself after a full collection (`--expose-gc`), so the heap figure is exact where
 *   loadgen's tcp-idle column sees only RSS;
 * - alloc: bytes the server allocates per echoed 16-byte ping-pong message: the server runs with
 *   a young generation larger than the run, so nothing is collected between two marks and the
 *   growth of the used heap is what was allocated (a collection in between is reported).
 *
 * - connect: bytes the server allocates per connection that opens, echoes 16 bytes and closes
 *   (measured the same way), the accept → open → echo → close path.
 *
 * Rounds alternate the servers (A B C A B C …), each measurement in a fresh server process.
 *
 *   node bench/memory.ts [--quick] [--rounds N]
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { summarize } from './lib/stats.ts';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' } } });
const quick = args.quick;
const rounds = args.rounds === undefined ? (quick ? 1 : 3) : Number(args.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new RangeError(`--rounds must be an integer in 1..20, got ${args.rounds}`);
const IDLE_SESSIONS = quick ? 500 : 2000;
const PING_CONNECTIONS = 16;
const PINGS = quick ? 500 : 2000;
const CONNECTS = quick ? 300 : 1000;
const WARMUP_PINGS = 300;
const MESSAGE = Buffer.alloc(16, 0x61);
const STEP_TIMEOUT_MS = 60_000;

const repoRoot = path.resolve(import.meta.dirname, '..');
const SERVERS = [
  { name: 'raw-net-echo', script: 'raw-net-echo.ts', baseline: null },
  { name: 'switchboard-event-echo', script: 'switchboard-event-echo.ts', baseline: 'raw-net-echo' },
  { name: 'switchboard-async-echo', script: 'switchboard-async-echo.ts', baseline: 'raw-net-echo' },
] as const;

interface Figures {
  heapPerSession: number;
  rssPerSession: number;
  bytesPerMessage: number;
  bytesPerConnection: number;
  collections: number;
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function ask<T>(child: ChildProcess, message: string): Promise<T> {
  return within(new Promise<T>((resolve) => {
    child.once('message', (reply) => resolve(reply as T));
    child.send(message);
  }), `server probe '${message}'`);
}

async function start(script: string): Promise<{ child: ChildProcess; port: number }> {
  const flags = ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64'];
  const command = os.availableParallelism() >= 2 ? 'taskset' : process.execPath;
  const argv = [...flags, path.join(repoRoot, 'bench/servers', script), '0'];
  const child = spawn(command, command === 'taskset' ? ['-c', '0', process.execPath, ...argv] : argv, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await within(new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const match = /^READY (\d+)$/m.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before READY`)));
  }), `${script} start`);
  return { child, port };
}

/** Opens a connection and proves it with one echo. */
function openProved(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let got = 0;
    socket.once('error', reject);
    socket.on('data', function onData(chunk) {
      got += chunk.length;
      if (got < MESSAGE.length) return;
      socket.off('data', onData);
      resolve(socket);
    });
    socket.write(MESSAGE);
  });
}

async function openMany(port: number, count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i += 100) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, () => openProved(port)))));
  }
  return sockets;
}

/** Ping-pong `count` messages on each socket. */
function pingPong(sockets: readonly net.Socket[], count: number): Promise<void> {
  return Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
    let left = count;
    let got = 0;
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      while (got >= MESSAGE.length) {
        got -= MESSAGE.length;
        if (--left === 0) {
          socket.off('data', onData);
          return resolve();
        }
        socket.write(MESSAGE);
      }
    };
    socket.on('data', onData);
    socket.write(MESSAGE);
  }))).then(() => {});
}

function closeAll(sockets: readonly net.Socket[]): void {
  for (const socket of sockets) socket.destroy();
}

async function measure(script: string): Promise<Figures> {
  const { child, port } = await start(script);
  try {
    // Warm up the paths (and let lazy allocations happen) before the baseline is read.
    closeAll(await openMany(port, 100));
    const pingers = await openMany(port, PING_CONNECTIONS);
    await within(pingPong(pingers, WARMUP_PINGS), 'warm-up');
    const startMark = await ask<{ usedHeap: number; collections: number }>(child, 'heap-start');
    await within(pingPong(pingers, PINGS), 'ping-pong');
    const endMark = await ask<{ usedHeap: number; collections: number }>(child, 'heap-mark');
    closeAll(pingers);

    // Connections that open, echo once and close, 10 at a time; each is closed by the client
    // and waited for, so the server has run its whole close path before the mark.
    const connectStart = await ask<{ usedHeap: number; collections: number }>(child, 'heap-start');
    for (let i = 0; i < CONNECTS; i += 10) {
      const batch = await openMany(port, Math.min(10, CONNECTS - i));
      await Promise.all(batch.map((socket) => new Promise((resolve) => {
        socket.once('close', resolve);
        socket.end();
      })));
    }
    const connectEnd = await ask<{ usedHeap: number; collections: number }>(child, 'heap-mark');

    type Usage = { heapUsed: number; rss: number };
    const before = await ask<Usage>(child, 'memory');
    const idle = await within(openMany(port, IDLE_SESSIONS), 'idle sessions');
    const after = await ask<Usage>(child, 'memory');
    closeAll(idle);
    return {
      heapPerSession: (after.heapUsed - before.heapUsed) / IDLE_SESSIONS,
      rssPerSession: (after.rss - before.rss) / IDLE_SESSIONS,
      bytesPerMessage: (endMark.usedHeap - startMark.usedHeap) / (PING_CONNECTIONS * PINGS),
      bytesPerConnection: (connectEnd.usedHeap - connectStart.usedHeap) / CONNECTS,
      collections: endMark.collections - startMark.collections + connectEnd.collections - connectStart.collections,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  }
}

const results = new Map<string, Figures[]>();
for (let round = 1; round <= rounds; round++) {
  for (const server of SERVERS) {
    const figures = await measure(server.script);
    results.set(server.name, [...(results.get(server.name) ?? []), figures]);
    process.stderr.write(`[memory] round ${round} ${server.name}: heap ${figures.heapPerSession.toFixed(0)} B/session, RSS ${figures.rssPerSession.toFixed(0)} B/session, ${figures.bytesPerMessage.toFixed(0)} B allocated/message, ${figures.bytesPerConnection.toFixed(0)} B allocated/connection${figures.collections > 0 ? ` (${figures.collections} collections)` : ''}\n`);
  }
}

const fmt = (xs: number[]): string => {
  const s = summarize(xs);
  return xs.length > 1 ? `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})` : s.median.toFixed(0);
};
const ratio = (name: string, baseline: string | null, pick: (f: Figures) => number): string => {
  if (baseline === null) return 'baseline';
  const mine = results.get(name)!;
  const base = results.get(baseline)!;
  const per = mine.map((f, i) => pick(f) / pick(base[i]!));
  const s = summarize(per);
  return `${s.median.toFixed(2)}×${per.length > 1 ? ` ${s.min.toFixed(2)}–${s.max.toFixed(2)}` : ''}`;
};
const rows = [['server', 'heap B/session', '× raw', 'RSS B/session', '× raw', 'B alloc/msg', '× raw', 'B alloc/conn', '× raw']];
for (const server of SERVERS) {
  const list = results.get(server.name)!;
  rows.push([
    server.name,
    fmt(list.map((f) => f.heapPerSession)), ratio(server.name, server.baseline, (f) => f.heapPerSession),
    fmt(list.map((f) => f.rssPerSession)), ratio(server.name, server.baseline, (f) => f.rssPerSession),
    fmt(list.map((f) => f.bytesPerMessage)), ratio(server.name, server.baseline, (f) => f.bytesPerMessage),
    fmt(list.map((f) => f.bytesPerConnection)), ratio(server.name, server.baseline, (f) => f.bytesPerConnection),
  ]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
process.stdout.write(`memory: ${IDLE_SESSIONS} idle sessions (each proved with one echo), ${PING_CONNECTIONS}×${PINGS} ping-pong 16-byte echoes and ${CONNECTS} connect-echo-close cycles per server, ${rounds} round(s), median (min–max); noDelay ${process.env.BENCH_NODELAY === '1' ? 'on' : 'off'}\n`);
for (const row of rows) process.stdout.write(`  ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}\n`);
const collected = [...results.values()].flat().filter((f) => f.collections > 0).length;
if (collected > 0) process.stdout.write(`  note: ${collected} measurement(s) saw a collection between the marks: their B alloc figures are lower bounds\n`);
