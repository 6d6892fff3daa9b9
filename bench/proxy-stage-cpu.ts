/**
 * `node bench/proxy-stage-cpu.ts`: the server-side CPU cost of one connection through a plain
 * listener, one with an `accept` handler, and PROXY v1 / v2 listeners, in microseconds of the
 * server thread's own CPU (`process.threadCpuUsage()` inside a worker), so the clients in the main
 * thread and the other processes of a shared machine count for nothing. Each connection is the
 * proxy-connect column's: connect, write the header and 16 bytes in one write, read the echo, close.
 *
 *   node bench/proxy-stage-cpu.ts [--rounds N] [--conns N] [--src DIR[,DIR…]]   (defaults 20, 500, src)
 *
 * `--src` names one or more source trees to compare in the same run (default: this tree's src/),
 * e.g. a `git archive` of an older commit: `--src src,.cache/baseline/src`. Every server is started
 * and warmed once, then each round measures all of them back to back (the order rotating); the
 * report gives medians and min–max of the cost, and of each round's ratio to the plain listener
 * of the same tree — the pairing keeps a slow spell of a shared machine out of the ratios.
 */
import { connect } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { V1_HEADER_HEX, V2_HEADER_HEX } from './lib/proxy-headers.ts';
import { median } from './lib/stats.ts';

type Variant = 'direct' | 'accept' | 'proxy-v1' | 'proxy-v2';
const VARIANTS: readonly Variant[] = ['direct', 'accept', 'proxy-v1', 'proxy-v2'];
const PAYLOAD = Buffer.alloc(16, 'x');
const CONCURRENCY = 16;

interface ServerData {
  readonly src: string;
  readonly variant: Variant;
}

if (!isMainThread) await serve(workerData as ServerData);
else await main();

/** The worker: a server of `variant`, answering `cpu` with its thread's CPU time so far (µs). */
async function serve({ src, variant }: ServerData): Promise<void> {
  const { listen } = (await import(pathToFileURL(path.join(src, 'index.ts')).href)) as typeof import('../src/index.ts');
  const echo = { data(session: { write(chunk: Buffer): unknown }, chunk: Buffer) { session.write(chunk); } };
  const handler = variant === 'accept' ? { ...echo, accept: () => true } : echo;
  const options = variant.startsWith('proxy') ? { host: '127.0.0.1', port: 0, proxyProtocol: { from: ['127.0.0.0/8'] } } : { host: '127.0.0.1', port: 0 };
  const server = await listen(options, handler);
  parentPort!.on('message', async (message: string) => {
    if (message === 'cpu') {
      const { user, system } = process.threadCpuUsage();
      parentPort!.postMessage({ cpu: user + system });
    } else if (message === 'close') {
      await server.close({ timeout: 1000 });
      parentPort!.close();
    }
  });
  parentPort!.postMessage({ port: server.addresses[0]!.port });
}

function ask<T>(worker: Worker, message: string, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: Record<string, T>): void => {
      if (!(key in reply)) return;
      worker.off('message', onMessage);
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

async function start(src: string, variant: Variant, warmup: number): Promise<Running> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { src, variant } satisfies ServerData });
  const port = await ask<number>(worker, '', 'port');
  const header = variant === 'proxy-v1' ? Buffer.from(V1_HEADER_HEX, 'hex') : variant === 'proxy-v2' ? Buffer.from(V2_HEADER_HEX, 'hex') : Buffer.alloc(0);
  const first = Buffer.concat([header, PAYLOAD]);
  await drive(port, first, warmup);
  return { key: `${path.relative(process.cwd(), src) || '.'} ${variant}`, variant, worker, port, first };
}

/** Server-thread CPU µs per connection over `conns` connections. */
async function measure(server: Running, conns: number): Promise<number> {
  const before = await ask<number>(server.worker, 'cpu', 'cpu');
  await drive(server.port, server.first, conns);
  const after = await ask<number>(server.worker, 'cpu', 'cpu');
  return (after - before) / conns;
}

async function stop(server: Running): Promise<void> {
  server.worker.postMessage('close');
  await new Promise((resolve) => server.worker.once('exit', resolve));
}

function spread(samples: readonly number[], digits = 1): string {
  return `${Math.min(...samples).toFixed(digits)}–${Math.max(...samples).toFixed(digits)}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, conns: { type: 'string', default: '500' }, src: { type: 'string', default: 'src' } } });
  const rounds = Number(values.rounds);
  const conns = Number(values.conns);
  const trees = values.src.split(',').map((dir) => path.resolve(dir));
  // Every server runs for the whole bench (started and warmed once); each round measures them
  // all back to back, the order rotating, so a slow spell of the machine falls on all alike.
  const servers: Running[] = [];
  for (const variant of VARIANTS) for (const src of trees) servers.push(await start(src, variant, 2 * conns));
  const results = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  /** Per round, each server's cost over the plain listener of its tree in that round. */
  const relative = new Map<string, number[]>(servers.map((server) => [server.key, []]));
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!);
    const got = new Map<string, number>();
    for (const server of order) got.set(server.key, await measure(server, conns));
    for (const server of servers) {
      const us = got.get(server.key)!;
      results.get(server.key)!.push(us);
      const tree = server.key.slice(0, server.key.lastIndexOf(' '));
      relative.get(server.key)!.push(got.get(`${tree} direct`)! / us);
    }
    process.stdout.write(`round ${round + 1}: ${servers.map((server) => `${server.key} ${got.get(server.key)!.toFixed(1)}`).join(', ')}\n`);
  }
  for (const server of servers) await stop(server);
  process.stdout.write(`\nserver-thread CPU per connection: ${rounds} rounds × ${conns} connections (${CONCURRENCY} at a time) per server\n`);
  process.stdout.write('  tree                   variant    µs/conn median (min–max)   conns per CPU-s × direct: median of the per-round ratios (min–max)\n');
  for (const server of servers) {
    const samples = results.get(server.key)!;
    const ratios = relative.get(server.key)!;
    const [tree, variant] = [server.key.slice(0, server.key.lastIndexOf(' ')), server.variant];
    process.stdout.write(`  ${tree.padEnd(22)} ${variant.padEnd(9)} ${median(samples).toFixed(1).padStart(7)} (${spread(samples)})   ${median(ratios).toFixed(3)} (${spread(ratios, 3)})\n`);
  }
}
