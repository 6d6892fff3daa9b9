/** Observability: the metrics registry and its Prometheus text, the HTTP endpoints, the channel payloads. */
export { MetricsRegistry } from './metrics-registry.ts';
export type { MetricsRegistryOptions, ObserveOptions, MetricsSnapshot, ServerSnapshot, LastError } from './metrics-registry.ts';
export { SESSION_DURATION_BUCKETS, TLS_HANDSHAKE_BUCKETS } from './histogram.ts';
export type { HistogramSnapshot } from './histogram.ts';
export { METRIC_FAMILIES } from './metric-families.ts';
export type { MetricFamily } from './metric-families.ts';
export { PROMETHEUS_CONTENT_TYPE } from './prometheus-text.ts';
export { listenMetrics, MetricsServer } from './metrics-http.ts';
export type { MetricsServerOptions, StatusDocument, StatusSample } from './metrics-http.ts';
export { DiagnosticsChannel } from '../server/diagnostics.ts';
export type {
  SessionOpenMessage,
  SessionCloseMessage,
  ConnectionRejectMessage,
  DatagramDropMessage,
  ServerListenContext,
  TlsHandshakeContext,
} from './channel-messages.ts';
