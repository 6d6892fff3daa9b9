/**
 * The contract every bench server follows, kept in one place: take the port from
 * argv[2] or $PORT (0 = any free port), listen on 127.0.0.1, print exactly
 * `READY <port>` on stdout, and exit 0 on SIGTERM.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/** The port a bench server was asked to listen on: argv[2], else $PORT, else 0. */
export function requestedPort(): number {
  const raw = process.argv[2] ?? process.env.PORT ?? '0';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${raw}`);
  }
  return port;
}

/** Tell the runner the server is listening; the runner waits for this exact line. */
export function announceReady(port: number): void {
  answerMemoryProbes();
  process.stdout.write(`READY ${port}\n`);
}

/**
 * Run `stop` on SIGTERM and exit 0 once it settles. A second SIGTERM, or `stop`
 * taking longer than `graceMs`, exits at once: the runner must never wait on a server.
 */
export function exitOnSigterm(stop: () => unknown, graceMs = 2000): void {
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) process.exit(0);
    stopping = true;
    setTimeout(() => process.exit(0), graceMs).unref();
    Promise.resolve()
      .then(stop)
      .catch(() => {})
      .finally(() => process.exit(0));
  });
}

/**
 * Whether the runner asked for TCP_NODELAY on the server's sockets (`--nodelay`, passed as
 * BENCH_NODELAY=1): every TCP bench server, raw or Switchboard, reads it the same way.
 */
export function noDelayRequested(): boolean {
  return process.env.BENCH_NODELAY === '1';
}

/**
 * For bench/memory.ts, which starts a server with an IPC channel and `--expose-gc`: answer
 * `'memory'` with the heap and RSS after a full collection, so idle sessions can be counted in
 * bytes. Without a channel (the ordinary bench) this does nothing and costs nothing.
 */
export function answerMemoryProbes(): void {
  if (typeof process.send !== 'function') return;
  process.on('message', (message) => {
    if (message !== 'memory') return;
    const collect = (globalThis as { gc?: () => void }).gc;
    collect?.();
    collect?.();
    const usage = process.memoryUsage();
    process.send!({ heapUsed: usage.heapUsed, rss: usage.rss, external: usage.external, arrayBuffers: usage.arrayBuffers, collected: collect !== undefined });
  });
  // Allocation probe: bench/memory.ts gives the server a young generation larger than the run,
  // so between 'heap-start' (a full collection) and 'heap-mark' nothing is collected and the
  // growth of the used heap is what was allocated; `collections` proves it.
  let collections = 0;
  new PerformanceObserver((list) => {
    collections += list.getEntries().length;
  }).observe({ entryTypes: ['gc'] });
  process.on('message', (message) => {
    if (message !== 'heap-start' && message !== 'heap-mark') return;
    // The observer hears of a collection a little later: the forced one is counted here.
    const seen = message === 'heap-start' ? collections + 1 : collections;
    if (message === 'heap-start') (globalThis as { gc?: () => void }).gc?.();
    const usedHeap = getHeapStatistics().used_heap_size;
    setImmediate(() => process.send!({ usedHeap, collections: seen }));
  });
}
