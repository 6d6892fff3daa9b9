/**
 * `--metrics ADDRESS` on serve, exec and run: one small HTTP listener with `/metrics`,
 * `/healthz`, `/readyz`, `/status` and `/status.json` over every server the command starts
 * (docs/observability.md). A drain marks `/readyz` 503 before the servers are told to close.
 */
import { MetricsRegistry, listenMetrics, type MetricsServer } from '../index.ts';
import type { ServeHooks } from './commands/common.ts';
import { parseListenAddress, type ListenAddress } from './listen-address.ts';
import type { Logger } from './logger.ts';
import type { Stoppable } from './shutdown.ts';
import { flagOptions } from './settings.ts';

/** The flag of every serving command. */
export const METRICS_OPTIONS = flagOptions(['metrics']);

/** Its lines in `--help`. */
export const METRICS_HELP = `Observability:
      --metrics ADDR       serve /metrics (Prometheus), /healthz, /readyz, /status (a live page)
                           and /status.json over HTTP on ADDR: HOST:PORT, [IPv6]:PORT, *:PORT
                           (every address) or :PORT (loopback, 127.0.0.1)`;

/** The flag value, as `parseArgs` returns it. */
export interface MetricsFlagValues {
  readonly metrics?: string | undefined;
}

/** The address `--metrics` names, or undefined without it. @throws {UsageError} for a malformed address */
export function readMetricsFlag(values: MetricsFlagValues): ListenAddress | undefined {
  return values.metrics === undefined ? undefined : parseListenAddress(values.metrics, '--metrics');
}

/** The host to bind: `:PORT` is loopback (a monitoring port is not opened to the world by accident), `*` every address. */
function metricsHost(address: ListenAddress): string {
  if (address.host === undefined) return '127.0.0.1';
  if (address.host === '*') return '::';
  return address.host;
}

/**
 * Listens on `address` with `registry`'s endpoint and logs its `metrics-listening` line (the URL,
 * the port bound). `up` calls it with the registry its services join and leave.
 * @throws {ListenError} (rejects) when the address cannot be bound
 */
export async function startMetricsEndpoint(address: ListenAddress, registry: MetricsRegistry, log: Logger): Promise<MetricsServer> {
  const endpoint = await listenMetrics(registry, { host: metricsHost(address), port: address.port });
  const { address: bound, port, family } = endpoint.address;
  log.info('metrics-listening', `metrics on ${endpoint.url}/metrics, status page ${endpoint.url}/status`, { transport: 'tcp', address: bound, port, family, url: endpoint.url });
  return endpoint;
}

/**
 * `hooks` plus the metrics listener: every server joins one registry once all are bound (the
 * listener starts then, before the `listening` lines); on a graceful stop `/readyz` turns 503
 * first, the servers drain, then the listener closes. Nothing to add without the flag.
 */
export function withMetrics(address: ListenAddress | undefined, log: Logger, hooks: ServeHooks = {}): ServeHooks {
  if (address === undefined) return hooks;
  const registry = new MetricsRegistry();
  let endpoint: MetricsServer | undefined;
  return {
    ready: async (running) => {
      await hooks.ready?.(running);
      for (const { name, tcp, udp } of running) {
        registry.add(tcp, { service: name });
        if (udp !== undefined) registry.add(udp, { service: name });
      }
      endpoint = await startMetricsEndpoint(address, registry, log);
    },
    stoppable: (servers) => drainingMetrics(hooks.stoppable ? hooks.stoppable(servers) : servers, registry, () => endpoint),
  };
}

/** `inner` behind the metrics endpoint: `/readyz` turns 503 first, `inner` stops, then the endpoint (`endpoint()`, if any) closes. */
export function drainingMetrics(inner: Stoppable, registry: MetricsRegistry, endpoint: () => MetricsServer | undefined): Stoppable {
  const stop = async (how: () => Promise<void>): Promise<void> => {
    registry.beginDrain();
    try {
      await how();
    } finally {
      await endpoint()?.close();
      registry.clear();
    }
  };
  return { close: (timeout) => stop(() => inner.close(timeout)), destroy: () => stop(() => inner.destroy()) };
}
