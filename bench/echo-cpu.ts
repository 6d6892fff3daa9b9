/**
 * `node bench/echo-cpu.ts`: the server's CPU per echoed message under one of the bench's echo
 * columns (default `pipe1k`), for raw node:net and Switchboard's event and async echo servers,
 * from one or more source trees, so a change can be measured before and after in the same run.
 *
 *   node bench/echo-cpu.ts [--column NAME] [--rounds N] [--secs S] [--src DIR[,DIR…]] [--only raw,raw+lib,raw+tcp,event,async,event-tcp,async-tcp] [--nagle]
 *     [--node-flags "FLAGS"] [--count]
 *     (defaults pipe1k, 9, 1, src, raw,event,async; TCP_NODELAY on the servers unless --nagle;
 *     --node-flags are given to every server's node, e.g. V8's heap sizing to see what GC costs)
 *
 * `--count` reports instead, per chunk read, what does not depend on the machine's load: bytes,
 * socket writes, `process.nextTick` calls, promises created (`v8.promiseHooks`) and heap bytes allocated (V8's sampling heap profiler).
 *
 * A line column (`--column line-pipe1k`) runs the line echoes instead: raw as
 * bench/servers/raw-net-line-echo.ts, event and async as switchboard-{,async-}line-echo.ts
 * (`framed()` with the '\n' delimiter codec); `--count` then also gives the lines per chunk.
 *
 * `raw+lib` is the raw server with the tree's `index.ts` imported and never used: what loading the
 * library alone costs the same echo (its code and data in the heap make each full collection
 * longer); `raw+tcp` imports only `tcp/tcp-server.ts` (what a plain TCP server needs), and
 * `event-tcp` / `async-tcp` are the Switchboard echoes importing `listenTcp` from there instead of
 * `index.ts`: the same data path with less of the library in the heap.
 *
 * Every server is a child process pinned to CPU 0 (loadgen on CPU 1), started once and warmed,
 * so each sample measures a warm JIT. Each round runs loadgen against every server in turn (the
 * order rotating); a sample is the server process's own CPU time (`process.cpuUsage()`: every
 * thread, GC helpers included; user and system apart, and the main thread's share) over the bytes it echoed in that time
 * (`bytesWritten` of its sockets), read by the server before and after the load: in µs per
 * message of the column's size, and per round as a ratio to raw's sample of the same round, so
 * a slow spell of the shared machine falls on both sides of each ratio. Messages per CPU-second
 * are what `bench/run.ts` reports as "per CPU-s"; this measures the same without the wall clock,
 * without loadgen's 10 ms CPU ticks, and without a cold process per sample.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { Socket, createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import type { FrameCodec } from '../src/codecs/codec.ts';
import type { AsyncSession } from '../src/tcp/async-session.ts';
import { columns } from './lib/columns.ts';
import { echoLinesRaw } from './lib/raw-line-echo.ts';
import { ensureLoadgen } from './lib/loadgen.ts';
import { runCommand } from './lib/processes.ts';
import { SAMPLE_EVERYTHING, countPromises, countTicks, sampledBytes } from './lib/counters.ts';
import { formatRange, formatRatios, median } from './lib/stats.ts';

type Variant = 'raw' | 'raw+lib' | 'raw+tcp' | 'event' | 'async' | 'event-tcp' | 'async-tcp';
const VARIANTS: readonly Variant[] = ['raw', 'raw+lib', 'raw+tcp', 'event', 'async', 'event-tcp', 'async-tcp'];
/** What runs without `--only`. */
const DEFAULT_VARIANTS: readonly Variant[] = ['raw', 'event', 'async'];
const repoRoot = path.resolve(import.meta.dirname, '..');

/** What a server answers to `probe`: its CPU so far (µs; the process, and its main thread), and the bytes it has echoed. */
interface Probe {
  readonly user: number;
  readonly system: number;
  readonly main: number;
  readonly bytes: number;
  /** Collections so far: full (mark-compact) and young (scavenge); and the young generation's capacity now (bytes). */
  readonly major: number;
  readonly minor: number;
  readonly newSpace: number;
  /** `--count` only (else 0): chunks read (`data` events), socket writes (`_writeGeneric` calls), `process.nextTick` calls. */
  readonly chunks: number;
  readonly writes: number;
  readonly ticks: number;
  /** `--count` only (else 0): promises created. */
  readonly promises: number;
  /** `--count` on a line column only (else 0): lines echoed. */
  readonly frames: number;
}


if (process.argv[2] === '--serve') await serve(process.argv[3] as Variant, process.argv[4]!, process.argv[5] === 'nodelay', process.argv[6] === 'count', process.argv[7] === 'lines');
else await main();

/** The child: one echo server, answering `probe` over IPC. */
async function serve(variant: Variant, src: string, noDelay: boolean, count: boolean, lines: boolean): Promise<void> {
  const lineCount = { lines: 0 };
  const counter = count ? lineCount : undefined;
  const socketWork = count ? countSocketWork() : () => ({ chunks: 0, writes: 0, ticks: 0, promises: 0 });
  const counted = (): { chunks: number; writes: number; ticks: number; promises: number; frames: number } => ({ ...socketWork(), frames: lineCount.lines });
  const sampler = count ? new Session() : undefined;
  sampler?.connect();
  const collections = { major: 0, minor: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) collections.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) collections.minor++;
    }
  }).observe({ entryTypes: ['gc'] });
  let bytes: () => number;
  if (variant === 'raw' || variant === 'raw+lib' || variant === 'raw+tcp') {
    // `raw+lib`: the library loaded and not used, so its heap (its code) is there and nothing else;
    // `raw+tcp`: only what a TCP server needs of it (tcp/tcp-server.ts and its imports).
    if (variant !== 'raw') await import(pathToFileURL(path.join(src, variant === 'raw+lib' ? 'index.ts' : 'tcp/tcp-server.ts')).href);
    // As bench/servers/raw-net-echo.ts, plus a `connection` listener that only keeps the socket for the byte count.
    const open = new Set<Socket>();
    let closedBytes = 0;
    const server = createServer({ noDelay }, (socket) => {
      socket.on('error', () => {});
      if (!lines) socket.on('data', (chunk) => socket.write(chunk));
      else {
        // A line column: as bench/servers/raw-net-line-echo.ts.
        echoLinesRaw(socket, counter);
      }
    });
    server.on('connection', (socket: Socket) => {
      open.add(socket);
      socket.once('close', () => {
        open.delete(socket);
        closedBytes += socket.bytesWritten;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    bytes = () => {
      let sum = closedBytes;
      for (const socket of open) sum += socket.bytesWritten;
      return sum;
    };
    process.send!({ port: (server.address() as AddressInfo).port });
  } else {
    // As bench/servers/switchboard-{event,async}-echo.ts, from the tree given: through `index.ts`,
    // or (`event-tcp`, `async-tcp`) from tcp/tcp-server.ts alone, so the rest of the library is not loaded.
    const entry = variant.endsWith('-tcp') ? 'tcp/tcp-server.ts' : 'index.ts';
    const { listenTcp: listen } = (await import(pathToFileURL(path.join(src, entry)).href)) as typeof import('../src/tcp/tcp-server.ts');
    const options = { host: '127.0.0.1', port: 0, noDelay };
    // A line column: as bench/servers/switchboard-{,async-}line-echo.ts, framed() with the '\n' delimiter codec.
    const lib = lines ? ((await import(pathToFileURL(path.join(src, 'index.ts')).href)) as typeof import('../src/index.ts')) : undefined;
    const codec = (): FrameCodec<Buffer, Buffer> => lib!.createDelimiterCodec({ delimiter: '\n', maxFrameLength: 1024 * 1024 });
    const server = lib !== undefined
      ? variant.startsWith('event')
        ? await lib.listen(options, lib.framed(codec, { frame(session, line) { if (count) lineCount.lines++; session.send(line); } }))
        : await lib.listen(options, lib.framed(codec, async (session) => {
          for await (const line of session.frames()) {
            if (count) lineCount.lines++;
            await session.send(line);
          }
        }))
      : variant.startsWith('event')
      ? await listen(options, { data(session, chunk) { session.write(chunk); } })
      : await listen(options, async (session: AsyncSession) => {
        for await (const chunk of session) await session.write(chunk);
      });
    bytes = () => server.stats().bytesOut;
    process.send!({ port: server.addresses[0]!.port });
  }
  process.on('message', (message) => {
    if (message === 'probe') {
      const { user, system } = process.cpuUsage();
      const thread = process.threadCpuUsage();
      const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
      process.send!({ probe: { user, system, main: thread.user + thread.system, bytes: bytes(), ...collections, newSpace, ...counted() } satisfies Probe });
    } else if (message === 'sample') {
      void sampler!.post('HeapProfiler.startSampling', SAMPLE_EVERYTHING).then(() => process.send!({ sampling: true }));
    } else if (message === 'sampled') {
      void sampler!.post('HeapProfiler.stopSampling').then(({ profile }) => process.send!({ allocated: sampledBytes(profile.head) }));
    } else if (message === 'exit') process.exit(0);
  });
}

/**
 * `--count`: counts every chunk a socket reads (`push`), every write it hands its handle
 * (`_writeGeneric`) and every `process.nextTick`, by wrapping them; the same wrappers in every
 * server, so the counts compare even though the wrappers cost a little.
 */
function countSocketWork(): () => { chunks: number; writes: number; ticks: number; promises: number } {
  const ticks = countTicks();
  const promises = countPromises();
  let chunks = 0;
  let writes = 0;
  type Internals = { push(chunk: unknown, encoding?: BufferEncoding): boolean; _writeGeneric(...args: unknown[]): unknown };
  const proto = Socket.prototype as unknown as Internals;
  const push = proto.push;
  const writeGeneric = proto._writeGeneric;
  proto.push = function countedPush(this: Socket, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk !== null) chunks++;
    return push.call(this, chunk, encoding);
  };
  proto._writeGeneric = function countedWrite(this: Socket, ...args: unknown[]) {
    writes++;
    return writeGeneric.apply(this, args);
  };
  return () => ({ chunks, writes, ticks: ticks(), promises: promises() });
}

interface Running {
  readonly key: string;
  readonly variant: Variant;
  readonly child: ChildProcess;
  readonly port: number;
}

/** `--count`: per chunk read, the bytes, writes, ticks and heap bytes allocated; the median over the rounds, per server. */
async function countAll(servers: readonly Running[], loadgen: readonly string[], rounds: number, pin: boolean): Promise<void> {
  const rows = new Map<string, { bytes: number[]; frames: number[]; writes: number[]; ticks: number[]; promises: number[]; allocated: number[] }>(servers.map((server) => [server.key, { bytes: [], frames: [], writes: [], ticks: [], promises: [], allocated: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const server of servers) {
      const before = await ask<Probe>(server.child, 'probe', 'probe');
      await ask<boolean>(server.child, 'sample', 'sampling');
      await runLoadgen(server, loadgen, pin);
      const allocated = await ask<number>(server.child, 'sampled', 'allocated');
      const after = await ask<Probe>(server.child, 'probe', 'probe');
      const chunks = after.chunks - before.chunks;
      const row = rows.get(server.key)!;
      row.bytes.push((after.bytes - before.bytes) / chunks);
      row.frames.push((after.frames - before.frames) / chunks);
      row.writes.push((after.writes - before.writes) / chunks);
      row.ticks.push((after.ticks - before.ticks) / chunks);
      row.promises.push((after.promises - before.promises) / chunks);
      row.allocated.push(allocated / chunks);
    }
  }
  for (const server of servers) server.child.send('exit');
  process.stdout.write(`\nper chunk read (one \`data\` event), median of ${rounds} rounds; heap bytes from V8's sampling heap profiler (every 64 bytes: an estimate)\n`);
  process.stdout.write('  tree                 variant     bytes   lines   writes   nextTicks   promises   heap bytes allocated\n');
  for (const server of servers) {
    const row = rows.get(server.key)!;
    process.stdout.write(`  ${server.key.split(' ')[0]!.padEnd(20)} ${server.variant.padEnd(10)} ${median(row.bytes).toFixed(0).padStart(6)}   ${median(row.frames).toFixed(2).padStart(5)}   ${median(row.writes).toFixed(2).padStart(6)}   ${median(row.ticks).toFixed(2).padStart(9)}   ${median(row.promises).toFixed(2).padStart(8)}   ${median(row.allocated).toFixed(0).padStart(20)}\n`);
  }
}

/** One loadgen run against `server`. */
async function runLoadgen(server: Running, loadgen: readonly string[], pin: boolean): Promise<void> {
  const [command, ...args] = pin ? ['taskset', '-c', '1', ...loadgen, '-p', String(server.port)] : [...loadgen, '-p', String(server.port)];
  const run = await runCommand(command!, args, 120_000);
  if (run.code !== 0) throw new Error(`loadgen failed (${run.code}): ${run.stderr.slice(-500)}`);
}

function ask<T>(child: ChildProcess, message: string | undefined, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${key} from the server within 15 s`)), 15_000);
    const onMessage = (reply: Record<string, T>): void => {
      if (!(key in reply)) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(reply[key]!);
    };
    child.on('message', onMessage);
    if (message !== undefined) child.send(message);
  });
}

async function start(variant: Variant, src: string, noDelay: boolean, pin: boolean, nodeFlags: readonly string[], count: boolean, lines: boolean): Promise<Running> {
  const args = [...nodeFlags, import.meta.filename, '--serve', variant, src, noDelay ? 'nodelay' : 'nagle', count ? 'count' : 'time', lines ? 'lines' : 'bytes'];
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await ask<number>(child, undefined, 'port');
  const tree = variant === 'raw' ? '-' : path.relative(repoRoot, src) || '.';
  return { key: `${tree} ${variant}`, variant, child, port };
}

/** One sample: the server's CPU µs per message over one loadgen run, how it splits, and the collections per 1000 messages. */
interface Sample {
  readonly us: number;
  readonly userShare: number;
  readonly mainShare: number;
  readonly major: number;
  readonly minor: number;
  readonly newSpace: number;
}

async function measure(server: Running, loadgen: readonly string[], size: number, pin: boolean): Promise<Sample> {
  const before = await ask<Probe>(server.child, 'probe', 'probe');
  await runLoadgen(server, loadgen, pin);
  const after = await ask<Probe>(server.child, 'probe', 'probe');
  const user = after.user - before.user;
  const cpu = user + after.system - before.system;
  const messages = (after.bytes - before.bytes) / size;
  const perK = 1000 / messages;
  return { us: cpu / messages, userShare: user / cpu, mainShare: (after.main - before.main) / cpu, major: (after.major - before.major) * perK, minor: (after.minor - before.minor) * perK, newSpace: after.newSpace };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      column: { type: 'string', default: 'pipe1k' },
      rounds: { type: 'string', default: '9' },
      secs: { type: 'string', default: '1' },
      src: { type: 'string', default: 'src' },
      only: { type: 'string', default: DEFAULT_VARIANTS.join(',') },
      nagle: { type: 'boolean', default: false },
      'node-flags': { type: 'string', default: '' },
      count: { type: 'boolean', default: false },
    },
  });
  const column = columns.find((c) => c.name === values.column && c.mode === 'tcp-echo');
  if (column === undefined) throw new Error(`--column must name a tcp-echo column of bench/lib/columns.ts (${columns.filter((c) => c.mode === 'tcp-echo').map((c) => c.name).join(', ')})`);
  const rounds = Number(values.rounds);
  const secs = Number(values.secs);
  const trees = values.src.split(',').map((dir) => path.resolve(dir));
  const variants = VARIANTS.filter((variant) => values.only.split(',').includes(variant));
  if (!variants.includes('raw')) throw new Error('--only must include raw (the ratios are to it)');
  const size = Number(column.args[column.args.indexOf('-s') + 1]);
  const lines = column.kind === 'tcp-lines';
  if (lines && variants.some((variant) => variant !== 'raw' && variant !== 'event' && variant !== 'async')) throw new Error('a line column runs raw, event and async only');
  const noDelay = !values.nagle;
  const nodeFlags = values['node-flags'].split(' ').filter(Boolean);
  const pin = os.availableParallelism() >= 2 && (await runCommand('taskset', ['-c', '1', 'true'], 5000)).code === 0;
  const loadgenPath = await ensureLoadgen(path.resolve(repoRoot, '../shared/tools/loadgen.c'), path.join(repoRoot, '.cache'));
  const loadgen = [loadgenPath, 'tcp-echo', ...column.args, '-t', String(secs), '-w', '0.2'];

  const servers: Running[] = [];
  for (const variant of variants) for (const src of variant === 'raw' ? trees.slice(0, 1) : trees) servers.push(await start(variant, src, noDelay, pin, nodeFlags, values.count, lines));
  const load = [os.loadavg()[0]!];
  process.stdout.write(`${column.name}: ${loadgen.slice(1).join(' ')}, TCP_NODELAY ${noDelay ? 'on' : 'off'} on the servers, ${nodeFlags.length > 0 ? `node ${nodeFlags.join(' ')}, ` : ''}${pin ? 'server CPU 0, loadgen CPU 1' : 'UNPINNED'}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  process.stdout.write(`servers: ${servers.map((server) => `${server.key} (pid ${server.child.pid})`).join(', ')}\n`);
  // Warm-up: one run each, not counted.
  for (const server of servers) await measure(server, loadgen, size, pin);
  if (values.count) return countAll(servers, loadgen, rounds, pin);
  const results = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  const samples = new Map<string, Sample[]>(servers.map((server) => [server.key, []]));
  const toRaw = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  const raw = servers.find((server) => server.variant === 'raw')!;
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
    const got = new Map<string, number>();
    for (const server of order) {
      const sample = await measure(server, loadgen, size, pin);
      got.set(server.key, sample.us);
      samples.get(server.key)!.push(sample);
    }
    for (const server of servers) {
      results.get(server.key)!.push(got.get(server.key)!);
      toRaw.get(server.key)!.push(got.get(raw.key)! / got.get(server.key)!);
    }
    load.push(os.loadavg()[0]!);
    process.stdout.write(`round ${round + 1}: ${servers.map((server) => `${server.key} ${got.get(server.key)!.toFixed(3)}`).join(', ')} µs/msg (load ${os.loadavg()[0]!.toFixed(2)})\n`);
  }
  for (const server of servers) server.child.send('exit');
  process.stdout.write(`\nserver CPU per ${size}-byte message, ${rounds} rounds × ${secs} s per server; 1-minute load average ${formatRange(load, 2)}\n`);
  process.stdout.write('  tree                 variant  µs/msg median (min–max)   user %  main thread %  full / young GCs per 1000 msgs  young gen MiB   msgs per CPU-s × raw: median of the per-round ratios (min–max) [95 % interval of the median]\n');
  for (const server of servers) {
    const [tree] = server.key.split(' ');
    const us = results.get(server.key)!;
    const taken = samples.get(server.key)!;
    const mid = (pick: (sample: Sample) => number): number => median(taken.map(pick));
    const ratios = toRaw.get(server.key)!;
    process.stdout.write(
      `  ${tree!.padEnd(20)} ${server.variant.padEnd(7)} ${median(us).toFixed(3).padStart(7)} (${formatRange(us, 3)})   ${(100 * mid((s) => s.userShare)).toFixed(0).padStart(5)}  ${(100 * mid((s) => s.mainShare)).toFixed(0).padStart(8)}` +
        `       ${mid((s) => s.major).toFixed(2).padStart(6)} / ${mid((s) => s.minor).toFixed(2).padEnd(6)}              ${(mid((s) => s.newSpace) / 2 ** 20).toFixed(1).padStart(5)}        ${formatRatios(ratios)}\n`,
    );
  }
}
