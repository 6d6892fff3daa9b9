/**
 * `node bench/proxy-stage-cpu.ts`: the server-side CPU cost of one connection through a plain
 * listener (`direct`), one with an `accept` handler, and PROXY v1 / v2 listeners — and, with
 * `--only`, raw node:net (`raw`, issue 16's baseline) and the async API (`async`) — in microseconds of the
 * server thread's own CPU (`process.threadCpuUsage()` inside a worker), so the clients in the main
 * thread and the other processes of a shared machine count for nothing. Each connection is the
 * proxy-connect column's: connect, write the header and 16 bytes in one write, read the echo, close.
 *
 *   node bench/proxy-stage-cpu.ts [--rounds N] [--conns N] [--src DIR[,DIR…]] [--only V[,V…]]   (defaults 20, 500, src, direct,accept,proxy-v1,proxy-v2)
 *   node bench/proxy-stage-cpu.ts --count [--rounds N] [--conns N] [--src …] [--only …]
 *
 * `--src` names one or more source trees to compare in the same run (default: this tree's src/),
 * e.g. a `git archive` of an older commit: `--src src,.cache/baseline/src`. Every server is started
 * and warmed once, then each round measures all of them back to back (the order rotating); the
 * report gives medians and min–max of the cost, and of each round's ratio to the plain listener
 * of the same tree — the pairing keeps a slow spell of a shared machine out of the ratios.
 *
 * `--count` reports, instead of CPU time, what a connection costs in things that do not depend on
 * the machine's load: `process.nextTick` calls (exact) and bytes allocated on the server thread's
 * heap, collected or not (V8's sampling heap profiler every 64 bytes, through the worker's own
 * inspector session: an estimate within about 1 %), so one run shows an extra tick or object
 * per connection.
 */
import { connect, createServer, type AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { V1_HEADER_HEX, V2_HEADER_HEX } from './lib/proxy-headers.ts';
import { SAMPLE_EVERYTHING, countTicks, sampledBytes } from './lib/counters.ts';
import { formatRange, median } from './lib/stats.ts';

type Variant = 'raw' | 'direct' | 'async' | 'accept' | 'proxy-v1' | 'proxy-v2';
const VARIANTS: readonly Variant[] = ['raw', 'direct', 'async', 'accept', 'proxy-v1', 'proxy-v2'];
/** What runs without `--only`: the plain listener and the three with a pending stage. */
const DEFAULT_VARIANTS: readonly Variant[] = ['direct', 'accept', 'proxy-v1', 'proxy-v2'];
const PAYLOAD = Buffer.alloc(16, 'x');
const CONCURRENCY = 16;

interface ServerData {
  readonly src: string;
  readonly variant: Variant;
  readonly count: boolean;
}

/** What the worker answers to `cpu`: its thread's CPU µs, and in `--count` mode its `nextTick` calls so far. */
interface Probe {
  readonly cpu: number;
  readonly ticks: number;
}

/** `--count`: the worker's `process.nextTick` calls so far. */
let ticks = (): number => 0;

if (!isMainThread) await serve(workerData as ServerData);
else await main();

/** The worker: a server of `variant`, answering `cpu` with its thread's CPU time so far (µs). */
async function serve({ src, variant, count }: ServerData): Promise<void> {
  if (count) ticks = countTicks();
  const sampler = count ? new Session() : undefined;
  sampler?.connect();
  const close = variant === 'raw' ? await serveRaw() : await serveSwitchboard(src, variant);
  parentPort!.on('message', async (message: string) => {
    if (message === 'cpu') {
      const { user, system } = process.threadCpuUsage();
      const probe: Probe = { cpu: user + system, ticks: ticks() };
      parentPort!.postMessage({ probe });
    } else if (message === 'sample') {
      await sampler!.post('HeapProfiler.startSampling', SAMPLE_EVERYTHING);
      parentPort!.postMessage({ sampling: true });
    } else if (message === 'sampled') {
      const { profile } = await sampler!.post('HeapProfiler.stopSampling');
      parentPort!.postMessage({ bytes: sampledBytes(profile.head) });
    } else if (message === 'close') {
      await close();
      parentPort!.close();
    }
  });
}



/** `raw`: node:net as bench/servers/raw-net-echo.ts writes it, the baseline of issue 16's connect column. */
async function serveRaw(): Promise<() => Promise<void>> {
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk) => socket.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  parentPort!.postMessage({ port: (server.address() as AddressInfo).port });
  return () => new Promise((resolve) => server.close(() => resolve()));
}

/** Switchboard's echo: event style (`direct`, `accept` with an accept handler, the PROXY listeners) or `async` (`for await`, `await write`). */
async function serveSwitchboard(src: string, variant: Variant): Promise<() => Promise<void>> {
  const { listen } = (await import(pathToFileURL(path.join(src, 'index.ts')).href)) as typeof import('../src/index.ts');
  const echo = { data(session: { write(chunk: Buffer): unknown }, chunk: Buffer) { session.write(chunk); } };
  const asyncEcho = async (session: AsyncIterable<Buffer> & { write(chunk: Buffer): Promise<void> }): Promise<void> => {
    for await (const chunk of session) await session.write(chunk);
  };
  const handler = variant === 'async' ? asyncEcho : variant === 'accept' ? { ...echo, accept: () => true } : echo;
  const options = variant.startsWith('proxy') ? { host: '127.0.0.1', port: 0, proxyProtocol: { from: ['127.0.0.0/8'] } } : { host: '127.0.0.1', port: 0 };
  const server = await listen(options, handler as Parameters<typeof listen>[1]);
  parentPort!.postMessage({ port: server.addresses[0]!.port });
  return () => server.close({ timeout: 1000 });
}

function ask<T>(worker: Worker, message: string, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: Record<string, T>): void => {
      if (!(key in reply)) return;
      worker.off('message', onMessage).off('error', reject);
      resolve(reply[key]!);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    if (message !== '') worker.postMessage(message);
  });
}

/** `count` connections, `CONCURRENCY` at a time, each bounded by a 5 s deadline. */
async function drive(port: number, first: Buffer, count: number): Promise<void> {
  let started = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(first));
      let got = 0;
      const timer = setTimeout(() => reject(new Error('a connection took over 5 s')), 5000);
      socket.on('data', (chunk: Buffer) => {
        got += chunk.length;
        if (got >= PAYLOAD.length) socket.end();
      });
      socket.on('error', reject);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  const lane = async (): Promise<void> => {
    while (started++ < count) await one();
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

/** A warmed server of `variant` from `src`, in its own worker, and what its connections send. */
interface Running {
  readonly key: string;
  readonly variant: Variant;
  readonly worker: Worker;
  readonly port: number;
  readonly first: Buffer;
}

async function start(src: string, variant: Variant, warmup: number, count: boolean): Promise<Running> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { src, variant, count } satisfies ServerData });
  const port = await ask<number>(worker, '', 'port');
  const header = variant === 'proxy-v1' ? Buffer.from(V1_HEADER_HEX, 'hex') : variant === 'proxy-v2' ? Buffer.from(V2_HEADER_HEX, 'hex') : Buffer.alloc(0);
  const first = Buffer.concat([header, PAYLOAD]);
  await drive(port, first, warmup);
  return { key: `${path.relative(process.cwd(), src) || '.'} ${variant}`, variant, worker, port, first };
}

/** Server-thread CPU µs per connection over `conns` connections. */
async function measure(server: Running, conns: number): Promise<number> {
  const before = await ask<Probe>(server.worker, 'cpu', 'probe');
  await drive(server.port, server.first, conns);
  const after = await ask<Probe>(server.worker, 'cpu', 'probe');
  return (after.cpu - before.cpu) / conns;
}

/** Per connection over `conns` connections: ticks, and heap bytes allocated (sampled). */
async function count(server: Running, conns: number): Promise<{ ticks: number; bytes: number }> {
  const before = await ask<Probe>(server.worker, 'cpu', 'probe');
  await ask<boolean>(server.worker, 'sample', 'sampling');
  await drive(server.port, server.first, conns);
  const bytes = await ask<number>(server.worker, 'sampled', 'bytes');
  const after = await ask<Probe>(server.worker, 'cpu', 'probe');
  return { ticks: (after.ticks - before.ticks) / conns, bytes: bytes / conns };
}

async function stop(server: Running): Promise<void> {
  server.worker.postMessage('close');
  await new Promise((resolve) => server.worker.once('exit', resolve));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '20' },
      conns: { type: 'string', default: '500' },
      src: { type: 'string', default: 'src' },
      only: { type: 'string' },
      count: { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const conns = Number(values.conns);
  const trees = values.src.split(',').map((dir) => path.resolve(dir));
  const variants = values.only === undefined ? DEFAULT_VARIANTS : VARIANTS.filter((variant) => values.only!.split(',').includes(variant));
  if (!variants.includes('direct')) throw new Error('--only must include direct (the ratios are to it)');
  if (values.count) return countAll(trees, variants, rounds, conns);
  // Every server runs for the whole bench (started and warmed once); each round measures them
  // all back to back, the order rotating, so a slow spell of the machine falls on all alike.
  const servers: Running[] = [];
  for (const variant of variants) for (const src of variant === 'raw' ? trees.slice(0, 1) : trees) servers.push(await start(src, variant, 2 * conns, false));
  const results = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  /** Per round, each server's cost over the plain listener of its tree in that round. */
  const relative = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  /** Per round, each server's connections per CPU-second over raw node:net's (with `raw` among the variants). */
  const rawServer = servers.find((server) => server.variant === 'raw');
  const toRaw = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
    const got = new Map<string, number>();
    for (const server of order) got.set(server.key, await measure(server, conns));
    for (const server of servers) {
      const us = got.get(server.key)!;
      results.get(server.key)!.push(us);
      const tree = server.key.slice(0, server.key.lastIndexOf(' '));
      relative.get(server.key)!.push(got.get(`${tree} direct`)! / us);
      if (rawServer !== undefined) toRaw.get(server.key)!.push(got.get(rawServer.key)! / us);
    }
    process.stdout.write(`round ${round + 1}: ${servers.map((server) => `${server.key} ${got.get(server.key)!.toFixed(1)}`).join(', ')}\n`);
  }
  for (const server of servers) await stop(server);
  process.stdout.write(`\nserver-thread CPU per connection: ${rounds} rounds × ${conns} connections (${CONCURRENCY} at a time) per server\n`);
  process.stdout.write(`  tree                   variant    µs/conn median (min–max)   conns per CPU-s × direct${rawServer ? ' | × raw' : ''}: median of the per-round ratios (min–max)\n`);
  for (const server of servers) {
    const samples = results.get(server.key)!;
    const ratios = relative.get(server.key)!;
    const [tree, variant] = [server.key.slice(0, server.key.lastIndexOf(' ')), server.variant];
    const raw = rawServer === undefined ? '' : `   | ${median(toRaw.get(server.key)!).toFixed(3)} (${formatRange(toRaw.get(server.key)!, 3)})`;
    process.stdout.write(`  ${tree.padEnd(22)} ${variant.padEnd(9)} ${median(samples).toFixed(1).padStart(7)} (${formatRange(samples, 1)})   ${median(ratios).toFixed(3)} (${formatRange(ratios, 3)})${raw}\n`);
  }
}

/** `--count`: ticks and heap bytes per connection, the median over the rounds, per server. */
async function countAll(trees: readonly string[], variants: readonly Variant[], rounds: number, conns: number): Promise<void> {
  const servers: Running[] = [];
  for (const variant of variants) for (const src of variant === 'raw' ? trees.slice(0, 1) : trees) servers.push(await start(src, variant, 2 * conns, true));
  process.stdout.write(`per connection, median of ${rounds} rounds × ${conns} connections\n`);
  process.stdout.write('  tree                   variant    nextTick calls   heap bytes allocated (sampled)\n');
  for (const server of servers) {
    const ticks: number[] = [];
    const bytes: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const got = await count(server, conns);
      ticks.push(got.ticks);
      bytes.push(got.bytes);
    }
    const [tree, variant] = [server.key.slice(0, server.key.lastIndexOf(' ')), server.variant];
    process.stdout.write(`  ${tree.padEnd(22)} ${variant.padEnd(9)} ${median(ticks).toFixed(2).padStart(14)}   ${median(bytes).toFixed(0).padStart(20)}\n`);
  }
  for (const server of servers) await stop(server);
}
