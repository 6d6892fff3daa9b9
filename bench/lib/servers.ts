/**
 * The servers the bench knows, as data. A server takes part in every column of its
 * `kind`, and its ratios are taken against its `baseline`, measured in the same run.
 * Adding a server is one entry here plus its script in bench/servers/.
 */

import { V1_HEADER_HEX, V2_HEADER_HEX } from './proxy-headers.ts';

/** What a server speaks, and therefore which columns it can be measured in. */
export type ServerKind = 'tcp' | 'tcp-lines' | 'udp' | 'tls' | 'proxy';

/** Ratios a server aims for against its baseline; printed beside the figures, never enforced. */
export interface Targets {
  /** Minimum throughput ratio (server / baseline) on every throughput column. */
  readonly throughput?: number;
  /** Maximum memory ratio (server / baseline) on memory columns such as tcp-idle. */
  readonly memory?: number;
}

/** One bench server: a standalone script that prints `READY <port>` and exits 0 on SIGTERM. */
export interface BenchServer {
  readonly name: string;
  /** Path relative to bench/servers/. */
  readonly script: string;
  readonly kind: ServerKind;
  /** Name of the server this one is compared with; null for a baseline. */
  readonly baseline: string | null;
  /** Exports of src/index.ts the script needs; the server is skipped until they exist. */
  readonly requires?: readonly string[];
  readonly targets?: Targets;
  /** Load generator arguments for this server alone, after the column's (the PROXY header it must be sent). */
  readonly loadgenArgs?: readonly string[];
  /** An executable (path from the repository root) run with the port instead of Node and `script`. */
  readonly executable?: string;
  /** Runs only when `--only` names it (it needs a build step first: experiments/native-transport/run.sh). */
  readonly optIn?: boolean;
}

export const servers: readonly BenchServer[] = [
  { name: 'raw-net-echo', script: 'raw-net-echo.ts', kind: 'tcp', baseline: null },
  { name: 'switchboard-event-echo', script: 'switchboard-event-echo.ts', kind: 'tcp', baseline: 'raw-net-echo', requires: ['listen'], targets: { throughput: 0.97, memory: 1.05 } },
  { name: 'switchboard-event-echo-metrics', script: 'switchboard-event-echo-metrics.ts', kind: 'tcp', baseline: 'switchboard-event-echo', requires: ['listen', 'listenMetrics'], targets: { throughput: 0.99 } },
  { name: 'switchboard-async-echo', script: 'switchboard-async-echo.ts', kind: 'tcp', baseline: 'raw-net-echo', requires: ['listen'], targets: { throughput: 0.92, memory: 1.25 } },
  { name: 'raw-net-line-echo', script: 'raw-net-line-echo.ts', kind: 'tcp-lines', baseline: null },
  { name: 'switchboard-line-echo', script: 'switchboard-line-echo.ts', kind: 'tcp-lines', baseline: 'raw-net-line-echo', requires: ['listen', 'framed'], targets: { throughput: 0.95 } },
  { name: 'switchboard-async-line-echo', script: 'switchboard-async-line-echo.ts', kind: 'tcp-lines', baseline: 'raw-net-line-echo', requires: ['listen', 'framed'], targets: { throughput: 0.92 } },
  { name: 'raw-dgram-echo', script: 'raw-dgram-echo.ts', kind: 'udp', baseline: null },
  { name: 'raw-tls-echo', script: 'raw-tls-echo.ts', kind: 'tls', baseline: null },
  { name: 'switchboard-tls-echo', script: 'switchboard-tls-echo.ts', kind: 'tls', baseline: 'raw-tls-echo', requires: ['listen'], targets: { throughput: 0.97 } },
  { name: 'switchboard-direct-echo', script: 'switchboard-event-echo.ts', kind: 'proxy', baseline: null },
  { name: 'switchboard-accept-echo', script: 'switchboard-accept-echo.ts', kind: 'proxy', baseline: 'switchboard-direct-echo', requires: ['listen'] },
  { name: 'switchboard-proxy-v1-echo', script: 'switchboard-proxy-echo.ts', kind: 'proxy', baseline: 'switchboard-direct-echo', requires: ['listen'], targets: { throughput: 0.95 }, loadgenArgs: ['-x', V1_HEADER_HEX] },
  { name: 'switchboard-proxy-v2-echo', script: 'switchboard-proxy-echo.ts', kind: 'proxy', baseline: 'switchboard-direct-echo', requires: ['listen'], targets: { throughput: 0.95 }, loadgenArgs: ['-x', V2_HEADER_HEX] },
  // The floor: a plain listener whose data handler parses the header itself (no stage, no re-admission).
  { name: 'switchboard-inline-v1-echo', script: 'switchboard-inline-proxy-echo.ts', kind: 'proxy', baseline: 'switchboard-direct-echo', requires: ['listen', 'parseProxyHeader'], loadgenArgs: ['-x', V1_HEADER_HEX] },
  { name: 'switchboard-inline-v2-echo', script: 'switchboard-inline-proxy-echo.ts', kind: 'proxy', baseline: 'switchboard-direct-echo', requires: ['listen', 'parseProxyHeader'], loadgenArgs: ['-x', V2_HEADER_HEX] },
  // The header's bytes alone: the same handler dropping the header by its known length, unparsed.
  { name: 'switchboard-skip-v1-echo', script: 'switchboard-skip-proxy-echo.ts', kind: 'proxy', baseline: 'switchboard-direct-echo', requires: ['listen'], loadgenArgs: ['-x', V1_HEADER_HEX] },
  { name: 'switchboard-skip-v2-echo', script: 'switchboard-skip-proxy-echo.ts', kind: 'proxy', baseline: 'switchboard-direct-echo', requires: ['listen'], loadgenArgs: ['-x', V2_HEADER_HEX] },
  // Issue 17's experiment (docs/native-transport.md): built by experiments/native-transport/run.sh, opt-in.
  { name: 'native-echo', script: 'native-echo.ts', kind: 'tcp', baseline: 'raw-net-echo', optIn: true, targets: { throughput: 1.3 } },
  { name: 'native-echo-copy', script: 'native-echo-copy.ts', kind: 'tcp', baseline: 'raw-net-echo', optIn: true, targets: { throughput: 1.3 } },
  { name: 'bun-echo', script: 'bun-echo', kind: 'tcp', baseline: 'raw-net-echo', optIn: true, executable: 'experiments/native-transport/bun/bun-echo.sh' },
  { name: 'c-epoll-echo', script: 'c-epoll-echo', kind: 'tcp', baseline: 'raw-net-echo', optIn: true, executable: 'experiments/native-transport/build/epoll-echo' },
  { name: 'switchboard-udp-echo', script: 'switchboard-udp-echo.ts', kind: 'udp', baseline: 'raw-dgram-echo', requires: ['listenUdp'], targets: { throughput: 0.97 } },
];
