/**
 * The Prometheus scrape of a {@link WorkerSet}: one series per service and transport holding
 * the sum over every worker (dead ones' last ledgers included, so counters never go back -- a
 * scrape that reaches a random worker, as under pm2, makes `rate()` meaningless). Made from the
 * same families as `MetricsRegistry`'s, so the names and labels match a one-process server's.
 */
import { formatHostPort } from '../core/errors.ts';
import { ServerState } from '../server/server-lifecycle.ts';
import { renderMetrics } from '../observability/metric-families.ts';
import type { MetricsSnapshot, ServerSnapshot, ServerSnapshotSource } from '../observability/metrics-registry.ts';
import type { WorkerStats } from './worker-messages.ts';
import type { WorkerSet } from './worker-set.ts';

/** Options of {@link workerSetMetrics} and {@link workerSetSource}. */
export interface WorkerMetricsOptions {
  /** The `service` label. @default 'workers' */
  readonly service?: string;
  /**
   * One series per worker slot, labelled `worker="0"`, `"1"`, ... instead of their sum. Each
   * slot's counters include its dead predecessors', so they never go back either, and the
   * series add up to the sum. @default false
   */
  readonly perWorker?: boolean;
  /** `maxConnections` of each worker, for `switchboard_sessions_limit` (the sum's is N times it). @default 0 (unknown) */
  readonly limit?: number;
}

/** One snapshot of the set, summed over its workers (asks each live worker for its ledger). */
export async function workerSetSnapshot(set: WorkerSet, options: WorkerMetricsOptions = {}): Promise<MetricsSnapshot> {
  const servers = await workerSetServers(set, options);
  return { time: new Date().toISOString(), processUptimeSeconds: process.uptime(), ready: servers.every((server) => server.ready), draining: false, servers };
}

/** The set's servers, as a registry's snapshot has them: one per transport (or per slot and transport). */
async function workerSetServers(set: WorkerSet, options: WorkerMetricsOptions): Promise<ServerSnapshot[]> {
  const service = options.service ?? 'workers';
  const listener = (transport: 'tcp' | 'udp'): string =>
    set.addresses
      .filter((address) => address.transport === transport)
      .map((address) => formatHostPort(address.address, address.port))
      .join(' ');
  const server = (transport: 'tcp' | 'udp', stats: WorkerStats, live: number, uptimeMs: number, limit: number, worker?: string): ServerSnapshot[] => {
    const ledger = stats[transport];
    if (ledger === undefined) return [];
    const ready = live > 0;
    return [{ service, transport, listener: listener(transport), state: ready ? ServerState.LISTENING : ServerState.CLOSED, suspended: false, ready, limit: transport === 'tcp' ? limit : 0, uptimeSeconds: uptimeMs / 1000, lastError: null, stats: ledger, ...(worker !== undefined && { worker }) }];
  };
  const limit = options.limit ?? 0;
  if (options.perWorker === true) {
    const slots = await set.statsBySlot();
    return (['tcp', 'udp'] as const).flatMap((transport) => slots.flatMap((slot) => server(transport, slot.stats, slot.pid === undefined ? 0 : 1, slot.uptime, limit, String(slot.slot))));
  }
  const stats = await set.stats();
  const uptime = Math.max(0, ...set.workers().map((worker) => worker.uptime));
  return (['tcp', 'udp'] as const).flatMap((transport) => server(transport, stats, stats.workers, uptime, limit * stats.workers));
}

/**
 * The set as a source of a `MetricsRegistry` (`registry.addSource(workerSetSource(set))`): its
 * servers join the registry's scrape, `/status` and `/readyz`, refreshed before each answer.
 * @example
 * const registry = new MetricsRegistry().addSource(workerSetSource(set, { service: 'echo' }));
 * await listenMetrics(registry, { port: 9464 }); // one scrape: the sum over every worker
 */
export function workerSetSource(set: WorkerSet, options: WorkerMetricsOptions = {}): ServerSnapshotSource {
  let servers: readonly ServerSnapshot[] = [];
  return {
    async refresh() {
      servers = await workerSetServers(set, options);
    },
    servers: () => servers,
  };
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
