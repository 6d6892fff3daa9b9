/**
 * The Prometheus scrape of a {@link WorkerSet}: one series per service and transport holding
 * the sum over every worker (dead ones' last ledgers included, so counters never go back — a
 * scrape that reaches a random worker, as under pm2, makes `rate()` meaningless). Made from the
 * same families as `MetricsRegistry`'s, so the names and labels match a one-process server's.
 */
import { formatHostPort } from '../core/errors.ts';
import { ServerState } from '../server/server-lifecycle.ts';
import { renderMetrics } from '../observability/metric-families.ts';
import type { MetricsSnapshot, ServerSnapshot } from '../observability/metrics-registry.ts';
import type { WorkerSet } from './worker-set.ts';

/** Options of {@link workerSetMetrics}. */
export interface WorkerMetricsOptions {
  /** The `service` label. @default 'workers' */
  readonly service?: string;
}

/** One snapshot of the set, summed over its workers (asks each live worker for its ledger). */
export async function workerSetSnapshot(set: WorkerSet, options: WorkerMetricsOptions = {}): Promise<MetricsSnapshot> {
  const service = options.service ?? 'workers';
  const stats = await set.stats();
  const uptime = Math.max(0, ...set.workers().map((worker) => worker.uptime)) / 1000;
  const servers: ServerSnapshot[] = [];
  for (const transport of ['tcp', 'udp'] as const) {
    const ledger = stats[transport];
    if (ledger === undefined) continue;
    const listener = set.addresses
      .filter((address) => address.transport === transport)
      .map((address) => formatHostPort(address.address, address.port))
      .join(' ');
    const ready = stats.workers > 0;
    servers.push({ service, transport, listener, state: ready ? ServerState.LISTENING : ServerState.CLOSED, suspended: false, ready, limit: 0, uptimeSeconds: uptime, lastError: null, stats: ledger });
  }
  return { time: new Date().toISOString(), processUptimeSeconds: process.uptime(), ready: servers.every((server) => server.ready), draining: false, servers };
}

/**
 * The Prometheus text exposition of the set: the sum over every worker.
 * @example
 * const set = await serveWorkers({ module, workers: 4, tcp: { port: 7000 } });
 * createServer(async (_, res) => res.end(await workerSetMetrics(set, { service: 'echo' }))).listen(9100);
 */
export async function workerSetMetrics(set: WorkerSet, options?: WorkerMetricsOptions): Promise<string> {
  return renderMetrics(await workerSetSnapshot(set, options));
}
