/**
 * `node bench/metrics-cost.ts`: what metrics on adds to each session close, in-process — one
 * `switchboard.session.close` publish with a MetricsRegistry subscribed (the histogram
 * observation), against the same point with nobody subscribed (one `hasSubscribers` check).
 * docs/benchmarks.md compares it with a connection's whole server-side cost.
 */
import { performance } from 'node:perf_hooks';
import { MetricsRegistry, listenTcp, type TcpSession } from '../src/index.ts';
import { sessionCloseChannel } from '../src/server/diagnostics.ts';

const CLOSES = 2_000_000;
const server = await listenTcp({ host: '127.0.0.1', port: 0 }, { data() {} });
const registry = new MetricsRegistry();
const session = { openedTick: performance.now() - 5 } as unknown as TcpSession;
const reason = { cause: 'peer-end', error: undefined } as const;

function perClose(): number {
  const start = performance.now();
  for (let i = 0; i < CLOSES; i++) if (sessionCloseChannel.hasSubscribers) sessionCloseChannel.publish({ server, session, reason });
  return ((performance.now() - start) * 1e6) / CLOSES;
}

console.log(`node ${process.version}; ${CLOSES} closes per measurement`);
for (let round = 1; round <= 5; round++) {
  registry.add(server, { service: 'echo' });
  const on = perClose();
  registry.clear();
  const off = perClose();
  console.log(`round ${round}: metrics on ${on.toFixed(1)} ns per close, off ${off.toFixed(2)} ns`);
}
await server.close();
