/**
 * `node bench/proxy-stage-cpu.ts`: the server-side CPU cost of one connection through a plain
 * listener (`direct`), one with an `accept` handler, and PROXY v1 / v2 listeners — and, with
 * `--only`, raw node:net (`raw`, issue 16's baseline), the async API (`async`), `inline-v1` /
 * `inline-v2`: a plain listener whose data handler parses each session's header itself (the floor
 * for any header read: the parse and its objects, with no header stage), and `skip-v1` / `skip-v2`:
 * the same handler dropping the header by its known length, unparsed (what its bytes cost) — in microseconds of the
 * server thread's own CPU (`process.threadCpuUsage()` inside a worker), so the clients in the main
 * thread and the other processes of a shared machine count for nothing. Each connection is the
 * proxy-connect column's: connect, write the header and 16 bytes in one write, read the echo, close.
 *
 *   node bench/proxy-stage-cpu.ts [--rounds N] [--conns N] [--src DIR[,DIR…]] [--only V[,V…]]   (defaults 20, 500, src, direct,accept,proxy-v1,proxy-v2)
 *   node bench/proxy-stage-cpu.ts --count [--sites N] [--rounds N] [--conns N] [--src …] [--only …]
 *   node bench/proxy-stage-cpu.ts --profile N [--rounds N] [--conns N] [--src …] [--only …]
 *
 * `--src` names one or more source trees to compare in the same run (default: this tree's src/),
 * e.g. a `git archive` of an older commit: `--src src,.cache/baseline/src`. Every server is started
 * and warmed once, then each round measures all of them back to back (the order rotating); the
 * report gives medians and min–max of the cost, and of each round's ratio to the plain listener
 * of the same tree — the pairing keeps a slow spell of a shared machine out of the ratios — with
 * a 95 % bootstrap interval of that median (a target inside it is not settled by the run), and
 * the collector's share (µs per connection in `gc` performance entries, and full GCs).
 *
 * `--count` reports, instead of CPU time, what a connection costs in things that do not depend on
 * the machine's load: `process.nextTick` calls and timers armed (exact), and bytes allocated on the server thread's
 * heap, collected or not (V8's sampling heap profiler every 64 bytes, through the worker's own
 * inspector session: an estimate within about 1 %; the absolute level moves several per cent with
 * the run's length, so compare trees within one run), and the collections seen meanwhile, so one
 * run shows an extra tick or object per connection. `--sites N` adds, under each server, the N allocation sites (function, file, line)
 * with the most bytes per connection (the mean over the rounds).
 *
 * `--profile N` instead runs the rounds under V8's CPU profiler (the worker's own inspector session,
 * a sample every 50 µs) and prints, per server, the N functions with the most self time per
 * connection and the self time per file: under the profiler, so compare servers of one run.
 */
import { connect, createServer, type AddressInfo } from 'node:net';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { V1_HEADER_HEX, V2_HEADER_HEX } from './lib/proxy-headers.ts';
import { parsingEcho, skippingEcho } from './lib/header-floor-echo.ts';
import { SAMPLE_EVERYTHING, countTicks, countTimers, profiledSelfTimes, sampledBytes, sampledSites } from './lib/counters.ts';
import { formatRange, formatRatios, mean, median } from './lib/stats.ts';

type Variant = 'raw' | 'direct' | 'async' | 'accept' | 'proxy-v1' | 'proxy-v2' | 'inline-v1' | 'inline-v2' | 'skip-v1' | 'skip-v2';
const VARIANTS: readonly Variant[] = ['raw', 'direct', 'async', 'accept', 'proxy-v1', 'proxy-v2', 'inline-v1', 'inline-v2', 'skip-v1', 'skip-v2'];
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
  readonly timers: number;
  /** Collections so far (minor, major) and their time (µs), from the worker's `gc` performance entries. */
  readonly gc: { minor: number; major: number; us: number };
}

/** The worker's collections so far, counted by a `gc` PerformanceObserver. */
const collections = { minor: 0, major: 0, us: 0 };

/** `--count`: the worker's `process.nextTick` calls so far. */
let ticks = (): number => 0;
/** `--count`: the worker's timers armed so far (`setTimeout`, `setInterval`, `setImmediate`). */
let timers = (): number => 0;

if (!isMainThread) await serve(workerData as ServerData);
else await main();

/** The worker: a server of `variant`, answering `cpu` with its thread's CPU time so far (µs). */
async function serve({ src, variant, count }: ServerData): Promise<void> {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) collections.major++;
      else collections.minor++;
      collections.us += entry.duration * 1000;
    }
  }).observe({ entryTypes: ['gc'] });
  if (count) {
    ticks = countTicks();
    timers = countTimers();
  }
  const sampler = count ? new Session() : undefined;
  sampler?.connect();
  const close = variant === 'raw' ? await serveRaw() : await serveSwitchboard(src, variant);
  parentPort!.on('message', async (message: string) => {
    if (message === 'cpu') {
      const { user, system } = process.threadCpuUsage();
      const probe: Probe = { cpu: user + system, ticks: ticks(), timers: timers(), gc: { ...collections } };
      parentPort!.postMessage({ probe });
    } else if (message === 'sample') {
      await sampler!.post('HeapProfiler.startSampling', SAMPLE_EVERYTHING);
      parentPort!.postMessage({ sampling: true });
    } else if (message === 'sampled') {
      const { profile } = await sampler!.post('HeapProfiler.stopSampling');
      parentPort!.postMessage({ bytes: { total: sampledBytes(profile.head), sites: sampledSites(profile.head) } });
    } else if (message === 'profile') {
      await sampler!.post('Profiler.enable');
      await sampler!.post('Profiler.setSamplingInterval', { interval: 50 });
      await sampler!.post('Profiler.start');
      parentPort!.postMessage({ profiling: true });
    } else if (message === 'profiled') {
      const { profile } = await sampler!.post('Profiler.stop');
      parentPort!.postMessage({ selfTimes: profiledSelfTimes(profile) });
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
  const { listen, parseProxyHeader } = (await import(pathToFileURL(path.join(src, 'index.ts')).href)) as typeof import('../src/index.ts');
  const echo = { data(session: { write(chunk: Buffer): unknown }, chunk: Buffer) { session.write(chunk); } };
  const asyncEcho = async (session: AsyncIterable<Buffer> & { write(chunk: Buffer): Promise<void> }): Promise<void> => {
    for await (const chunk of session) await session.write(chunk);
  };
  // `inline-*` / `skip-*`: no PROXY option; the data handler parses each session's header itself,
  // or drops it unparsed (bench/lib/header-floor-echo.ts): the floors of any header read.
  const handler = variant === 'async' ? asyncEcho : variant === 'accept' ? { ...echo, accept: () => true } : variant.startsWith('inline') ? parsingEcho(parseProxyHeader) : variant.startsWith('skip') ? skippingEcho() : echo;
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
  const header = variant.endsWith('-v1') ? Buffer.from(V1_HEADER_HEX, 'hex') : variant.endsWith('-v2') ? Buffer.from(V2_HEADER_HEX, 'hex') : Buffer.alloc(0);
  const first = Buffer.concat([header, PAYLOAD]);
  await drive(port, first, warmup);
  return { key: `${path.relative(process.cwd(), src) || '.'} ${variant}`, variant, worker, port, first };
}

/** Server-thread CPU µs per connection over `conns` connections, and of it the collector's (its `gc` entries' duration). */
async function measure(server: Running, conns: number): Promise<{ cpu: number; gc: number; majors: number }> {
  const before = await ask<Probe>(server.worker, 'cpu', 'probe');
  await drive(server.port, server.first, conns);
  const after = await ask<Probe>(server.worker, 'cpu', 'probe');
  return { cpu: (after.cpu - before.cpu) / conns, gc: (after.gc.us - before.gc.us) / conns, majors: after.gc.major - before.gc.major };
}

/** Per connection over `conns` connections: ticks, heap bytes allocated (sampled), and those bytes by allocation site. */
async function count(server: Running, conns: number): Promise<{ ticks: number; timers: number; bytes: number; gc: Probe['gc']; sites: Map<string, number> }> {
  const before = await ask<Probe>(server.worker, 'cpu', 'probe');
  await ask<boolean>(server.worker, 'sample', 'sampling');
  await drive(server.port, server.first, conns);
  const { total, sites } = await ask<{ total: number; sites: Map<string, number> }>(server.worker, 'sampled', 'bytes');
  const after = await ask<Probe>(server.worker, 'cpu', 'probe');
  const gc = { minor: (after.gc.minor - before.gc.minor) * 1000 / conns, major: (after.gc.major - before.gc.major) * 1000 / conns, us: (after.gc.us - before.gc.us) / conns };
  return { ticks: (after.ticks - before.ticks) / conns, timers: (after.timers - before.timers) / conns, bytes: total / conns, gc, sites };
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
      sites: { type: 'string', default: '0' },
      profile: { type: 'string' },
    },
  });
  const rounds = Number(values.rounds);
  const conns = Number(values.conns);
  const trees = values.src.split(',').map((dir) => path.resolve(dir));
  const variants = values.only === undefined ? DEFAULT_VARIANTS : VARIANTS.filter((variant) => values.only!.split(',').includes(variant));
  if (!variants.includes('direct')) throw new Error('--only must include direct (the ratios are to it)');
  if (values.profile !== undefined) return profileAll(trees, variants, rounds, conns, Number(values.profile));
  if (values.count) return countAll(trees, variants, rounds, conns, Number(values.sites));
  // Every server runs for the whole bench (started and warmed once); each round measures them
  // all back to back, the order rotating, so a slow spell of the machine falls on all alike.
  const servers: Running[] = [];
  for (const variant of variants) for (const src of variant === 'raw' ? trees.slice(0, 1) : trees) servers.push(await start(src, variant, 2 * conns, false));
  const results = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  /** Per round, each server's GC µs per connection (a collection falls in some rounds only: reported as the mean). */
  const collector = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  /** Each server's full (mark-compact) collections over all its rounds. */
  const majors = new Map<string, number>();
  /** Per round, each server's cost over the plain listener of its tree in that round. */
  const relative = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  /** Per round, each server's connections per CPU-second over raw node:net's (with `raw` among the variants). */
  const rawServer = servers.find((server) => server.variant === 'raw');
  const toRaw = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
    const got = new Map<string, number>();
    for (const server of order) {
      const { cpu, gc, majors: full } = await measure(server, conns);
      got.set(server.key, cpu);
      collector.get(server.key)!.push(gc);
      majors.set(server.key, (majors.get(server.key) ?? 0) + full);
    }
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
  process.stdout.write(`  tree                   variant    µs/conn median (min–max)   of it GC, mean (full GCs per 10k conns)   conns per CPU-s × direct${rawServer ? ' | × raw' : ''}: median of the per-round ratios (min–max) [95 % interval of the median]\n`);
  for (const server of servers) {
    const samples = results.get(server.key)!;
    const ratios = relative.get(server.key)!;
    const [tree, variant] = [server.key.slice(0, server.key.lastIndexOf(' ')), server.variant];
    const raw = rawServer === undefined ? '' : `   | ${formatRatios(toRaw.get(server.key)!)}`;
    process.stdout.write(`  ${tree.padEnd(22)} ${variant.padEnd(9)} ${median(samples).toFixed(1).padStart(7)} (${formatRange(samples, 1)})   ${mean(collector.get(server.key)!).toFixed(1).padStart(5)} (${(((majors.get(server.key) ?? 0) * 10_000) / (rounds * conns)).toFixed(1)})   ${formatRatios(ratios)}${raw}\n`);
  }
}

/** `--count`: ticks and heap bytes per connection, the median over the rounds, per server. */
async function countAll(trees: readonly string[], variants: readonly Variant[], rounds: number, conns: number, top: number): Promise<void> {
  const servers: Running[] = [];
  for (const variant of variants) for (const src of variant === 'raw' ? trees.slice(0, 1) : trees) servers.push(await start(src, variant, 2 * conns, true));
  process.stdout.write(`per connection, median of ${rounds} rounds × ${conns} connections\n`);
  process.stdout.write('  tree                   variant    nextTick calls   timers armed   heap bytes allocated (sampled)   GCs per 1,000 conns minor/major, GC µs per conn (means)\n');
  for (const server of servers) {
    const ticks: number[] = [];
    const timers: number[] = [];
    const bytes: number[] = [];
    const gc = { minor: 0, major: 0, us: 0 };
    const sites = new Map<string, number>();
    for (let round = 0; round < rounds; round++) {
      const got = await count(server, conns);
      ticks.push(got.ticks);
      timers.push(got.timers);
      bytes.push(got.bytes);
      gc.minor += got.gc.minor / rounds;
      gc.major += got.gc.major / rounds;
      gc.us += got.gc.us / rounds;
      for (const [site, size] of got.sites) sites.set(site, (sites.get(site) ?? 0) + size / (conns * rounds));
    }
    const [tree, variant] = [server.key.slice(0, server.key.lastIndexOf(' ')), server.variant];
    process.stdout.write(`  ${tree.padEnd(22)} ${variant.padEnd(9)} ${median(ticks).toFixed(2).padStart(14)}   ${median(timers).toFixed(3).padStart(12)}   ${median(bytes).toFixed(0).padStart(30)}   ${gc.minor.toFixed(2)}/${gc.major.toFixed(2)}, ${gc.us.toFixed(2)}\n`);
    const ranked = [...sites].sort((a, b) => b[1] - a[1]).slice(0, top);
    for (const [site, size] of ranked) process.stdout.write(`      ${size.toFixed(0).padStart(6)} B  ${site}\n`);
  }
  for (const server of servers) await stop(server);
}

/** `--profile N`: per server, CPU self time per connection under V8's sampling profiler (every 50 µs, on the server thread), the N functions with the most, and the whole per file. */
async function profileAll(trees: readonly string[], variants: readonly Variant[], rounds: number, conns: number, top: number): Promise<void> {
  const servers: Running[] = [];
  for (const variant of variants) for (const src of variant === 'raw' ? trees.slice(0, 1) : trees) servers.push(await start(src, variant, 2 * conns, true));
  process.stdout.write(`CPU self time per connection under the profiler (µs), ${rounds} rounds × ${conns} connections\n`);
  for (const server of servers) {
    const self = new Map<string, number>();
    for (let round = 0; round < rounds; round++) {
      await ask<boolean>(server.worker, 'profile', 'profiling');
      await drive(server.port, server.first, conns);
      const got = await ask<Map<string, number>>(server.worker, 'profiled', 'selfTimes');
      for (const [site, us] of got) self.set(site, (self.get(site) ?? 0) + us / (conns * rounds));
    }
    const files = new Map<string, number>();
    let total = 0;
    for (const [site, us] of self) {
      const file = site.slice(site.lastIndexOf(' ') + 1).replace(/:\d+$/, '');
      files.set(file, (files.get(file) ?? 0) + us);
      if (!site.startsWith('(idle)') && !site.startsWith('(program)')) total += us;
    }
    process.stdout.write(`  ${server.key}: ${total.toFixed(1)} µs busy (not idle, not program)\n`);
    for (const [site, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`      ${us.toFixed(2).padStart(6)}  ${site}\n`);
    process.stdout.write('    by file:\n');
    for (const [file, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`      ${us.toFixed(2).padStart(6)}  ${file || '(native)'}\n`);
  }
  for (const server of servers) await stop(server);
}
