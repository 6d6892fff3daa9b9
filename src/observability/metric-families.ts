/**
 * Every metric Switchboard exposes, as data: one entry per family, with the samples it takes
 * from each server's snapshot. A feature adds its series by adding entries (docs/observability.md
 * lists them all; a test checks the two agree).
 */
import type { TcpServerStats } from '../tcp/tcp-server.ts';
import type { UdpServerStats } from '../udp/udp-server.ts';
import type { HistogramSnapshot } from './histogram.ts';
import type { MetricsSnapshot, ServerSnapshot } from './metrics-registry.ts';
import { ExpositionWriter, formatSampleValue, type Labels, type MetricType } from './prometheus-text.ts';

/** One sample of a family for one server: extra labels (a `reason`) and the value. */
type Sample = readonly [extra: Labels, value: number];

/** A metric family: name, type, help, and how to read it from a server (no samples: not shown). */
export interface MetricFamily {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** Extra label names beyond `service`, `transport`, `listener`. */
  readonly labels?: readonly string[];
  readonly samples?: (server: ServerSnapshot) => readonly Sample[];
  readonly histogram?: (server: ServerSnapshot) => HistogramSnapshot | undefined;
}

const tcp = (server: ServerSnapshot): TcpServerStats | undefined => (server.transport === 'tcp' ? (server.stats as TcpServerStats) : undefined);
const udp = (server: ServerSnapshot): UdpServerStats | undefined => (server.transport === 'udp' ? (server.stats as UdpServerStats) : undefined);
/** `stats().proxy` of a TCP or UDP server with the `proxyProtocol` option (the same shape on both). */
const proxy = (server: ServerSnapshot): TcpServerStats['proxy'] => (server.stats as TcpServerStats | UdpServerStats).proxy;
const one = (value: number | undefined): readonly Sample[] => (value === undefined ? [] : [[{}, value]]);
const byReason = (counts: Readonly<Record<string, number>> | undefined): readonly Sample[] =>
  counts === undefined ? [] : Object.entries(counts).map(([reason, count]) => [{ reason }, count] as const);

/** The families, in exposition order. */
export const METRIC_FAMILIES: readonly MetricFamily[] = [
  { name: 'switchboard_listeners', type: 'gauge', help: 'Listening sockets open (TCP listeners, UDP sockets).', samples: (s) => one(s.stats.listeners) },
  { name: 'switchboard_ready', type: 'gauge', help: 'Whether the server takes new work: 1 listening and not suspended, else 0.', samples: (s) => one(s.ready ? 1 : 0) },
  { name: 'switchboard_uptime_seconds', type: 'gauge', help: 'Seconds since the server started listening.', samples: (s) => one(s.uptimeSeconds) },
  { name: 'switchboard_sessions_active', type: 'gauge', help: 'TCP sessions open now.', samples: (s) => one(tcp(s)?.sessions) },
  { name: 'switchboard_sessions_peak', type: 'gauge', help: 'The most TCP sessions open at once since the server was created.', samples: (s) => one(tcp(s)?.peakSessions) },
  { name: 'switchboard_sessions_limit', type: 'gauge', help: 'maxConnections in force (0 means no limit).', samples: (s) => (tcp(s) ? one(s.limit) : []) },
  { name: 'switchboard_sessions_opened_total', type: 'counter', help: 'TCP sessions opened.', samples: (s) => one(tcp(s)?.opened) },
  { name: 'switchboard_sessions_closed_total', type: 'counter', help: 'TCP sessions closed, by close cause.', labels: ['reason'], samples: (s) => byReason(tcp(s)?.closedBy) },
  { name: 'switchboard_connections_accepted_total', type: 'counter', help: 'TCP connections accepted from the kernel, refused ones included.', samples: (s) => one(tcp(s)?.accepted) },
  { name: 'switchboard_connections_waiting', type: 'gauge', help: 'Accepted TCP connections waiting on a stage (PROXY header, accept handler, TLS handshake): neither opened nor rejected yet.', samples: (s) => one(tcp(s)?.waiting) },
  { name: 'switchboard_connections_rejected_total', type: 'counter', help: 'TCP connections refused before a session opened, by reject cause.', labels: ['reason'], samples: (s) => byReason(tcp(s)?.rejectedBy) },
  { name: 'switchboard_bytes_received_total', type: 'counter', help: 'Bytes received (TCP sessions, UDP datagrams).', samples: (s) => one(s.stats.bytesIn) },
  { name: 'switchboard_bytes_sent_total', type: 'counter', help: 'Bytes sent (TCP sessions, including any still queued in the process; UDP replies).', samples: (s) => one(s.stats.bytesOut) },
  { name: 'switchboard_session_duration_seconds', type: 'histogram', help: 'How long TCP sessions lasted, from open to close.', histogram: (s) => s.sessionDuration },
  { name: 'switchboard_tls_handshakes_total', type: 'counter', help: 'TLS handshakes completed (implicit and STARTTLS).', samples: (s) => one(tcp(s)?.tls?.handshakes) },
  { name: 'switchboard_tls_handshakes_active', type: 'gauge', help: 'TLS handshakes running now.', samples: (s) => one(tcp(s)?.tls?.inProgress) },
  { name: 'switchboard_tls_handshake_failures_total', type: 'counter', help: 'TLS handshakes failed, by reason.', labels: ['reason'], samples: (s) => byReason(tcp(s)?.tls?.failures) },
  { name: 'switchboard_tls_handshake_duration_seconds', type: 'histogram', help: 'How long TLS handshakes took, failed ones included.', histogram: (s) => s.tlsHandshakeDuration },
  { name: 'switchboard_tls_reloads_total', type: 'counter', help: 'Successful TLS certificate reloads (setTls, SIGHUP in the CLI).', samples: (s) => one(tcp(s)?.tls?.reloads) },
  { name: 'switchboard_proxy_headers_total', type: 'counter', help: 'Valid PROXY headers read (TCP connections, UDP datagrams), by version, LOCAL ones included.', labels: ['version'], samples: (s) => { const p = proxy(s); return p === undefined ? [] : [[{ version: '1' }, p.headers.v1], [{ version: '2' }, p.headers.v2]]; } },
  { name: 'switchboard_proxy_local_total', type: 'counter', help: 'Of the PROXY headers read, LOCAL ones (the balancer\'s own connections, health checks).', samples: (s) => one(proxy(s)?.local) },
  { name: 'switchboard_proxy_failures_total', type: 'counter', help: 'PROXY headers refused (the connection refused, the datagram dropped), by error code; SWB_ERR_PROXY_TIMEOUT counts deadlines.', labels: ['reason'], samples: (s) => byReason(proxy(s)?.failures) },
  { name: 'switchboard_proxy_untrusted_total', type: 'counter', help: 'Connections and datagrams from sources outside proxyProtocol.from, by what was done with them (refused, direct).', labels: ['action'], samples: (s) => { const p = proxy(s); return p === undefined ? [] : [[{ action: 'refused' }, p.untrusted.refused], [{ action: 'direct' }, p.untrusted.direct]]; } },
  { name: 'switchboard_udp_datagrams_received_total', type: 'counter', help: 'UDP datagrams received, dropped ones included.', samples: (s) => one(udp(s)?.datagramsIn) },
  { name: 'switchboard_udp_datagrams_accepted_total', type: 'counter', help: 'UDP datagrams handed to the handler or queued for the loop.', samples: (s) => one(udp(s)?.accepted) },
  { name: 'switchboard_udp_datagrams_sent_total', type: 'counter', help: 'UDP replies the kernel accepted.', samples: (s) => one(udp(s)?.datagramsOut) },
  { name: 'switchboard_udp_datagrams_dropped_total', type: 'counter', help: 'UDP datagrams and replies dropped, by drop cause.', labels: ['reason'], samples: (s) => byReason(udp(s)?.dropped) },
  { name: 'switchboard_udp_in_flight', type: 'gauge', help: 'UDP handler promises not settled yet.', samples: (s) => one(udp(s)?.inFlight) },
  { name: 'switchboard_udp_queued', type: 'gauge', help: 'UDP datagrams waiting for the for-await loop.', samples: (s) => one(udp(s)?.queued) },
];

/** The labels every series of a server carries; the names match the CLI's `--json` log fields. */
export function serverLabels(server: ServerSnapshot): Labels {
  return { service: server.service, transport: server.transport, listener: server.listener, ...(server.worker !== undefined && { worker: server.worker }) };
}

/** The Prometheus text of `snapshot`: each family once, with every server's samples. */
export function renderMetrics(snapshot: MetricsSnapshot, families: readonly MetricFamily[] = METRIC_FAMILIES): string {
  const out = new ExpositionWriter();
  for (const family of families) {
    const lines: (() => void)[] = [];
    for (const server of snapshot.servers) {
      const labels = serverLabels(server);
      if (family.samples) {
        for (const [extra, value] of family.samples(server)) lines.push(() => out.sample(family.name, { ...labels, ...extra }, value));
      }
      const histogram = family.histogram?.(server);
      if (histogram) lines.push(() => writeHistogram(out, family.name, labels, histogram));
    }
    if (lines.length === 0) continue;
    out.family(family.name, family.type, family.help);
    for (const line of lines) line();
  }
  return out.text();
}

function writeHistogram(out: ExpositionWriter, name: string, labels: Labels, histogram: HistogramSnapshot): void {
  histogram.buckets.forEach((bound, i) => out.sample(`${name}_bucket`, { ...labels, le: formatSampleValue(bound) }, histogram.cumulative[i]!));
  out.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, histogram.count);
  out.sample(`${name}_sum`, labels, histogram.sum);
  out.sample(`${name}_count`, labels, histogram.count);
}
