/**
 * Switchboard: socket servers for TypeScript. The public API, and nothing else.
 * @module
 */
import './core/platform.ts'; // first: on a Node.js too old, fail at load saying which version is needed
export { listenTcp, listenTcp as listen, TcpServer } from './tcp/tcp-server.ts';
export type { TcpServerStats, TcpServerEvents, RejectedConnection, TcpHandlerFor } from './tcp/tcp-server.ts';
export type { TcpServerOptions } from './tcp/tcp-options.ts';
export { DEFAULT_IDLE_TIMEOUT } from './tcp/tcp-options.ts';
export type { TcpEventHandler, TcpSessionFunction, TcpHandler, MaybePromise } from './tcp/tcp-handlers.ts';
export { TcpSession, SessionState } from './tcp/tcp-session.ts';
export { EventSession } from './tcp/event-session.ts';
export { AsyncSession } from './tcp/async-session.ts';
export { CloseCause } from './tcp/close-reason.ts';
export type { CloseReason, CloseCounts } from './tcp/close-reason.ts';
export type { ConnectionInfo } from './tcp/connection-info.ts';
export { ServerState, DEFAULT_CLOSE_TIMEOUT } from './server/server-lifecycle.ts';
export type { CloseOptions } from './server/server-lifecycle.ts';
export type { BoundAddress, SocketOrigin } from './net/listener-group.ts';
export type { AddressFamily, HostSpec, LookupAddress, LookupFunction } from './net/addresses.ts';
export { ErrorCode, SwitchboardError, InvalidOptionError, OpError, ListenError, formatHostPort as formatAddress } from './core/errors.ts';
export type { OpContext, Transport } from './core/errors.ts';
export { supportsReusePort } from './core/platform.ts';
export type { BroadcastOptions } from './tcp/tcp-server.ts';
export { RejectCause } from './tcp/reject-reason.ts';
export type { RejectReason, RejectCounts } from './tcp/reject-reason.ts';
export { DEFAULT_ACCEPT_TIMEOUT, DEFAULT_MAX_BUFFERED_OUTPUT, MAX_BUSY_MESSAGE_LENGTH } from './tcp/limit-options.ts';
export type { LimitOptions, ThrottleLimits } from './tcp/limit-options.ts';
export type { AccessRuleSet, AddressList } from './limits/access-rules.ts';
export { HandshakeFailure, TlsHandshakeError } from './tls/handshake-error.ts';
export { TlsHandshakeSummary, TlsExpiryWarning, TLS_FAILURE_SUMMARY_INTERVAL } from './tls/server-tls.ts';
export type { TlsServerStats, TlsFailureCounts, StartTlsOptions } from './tls/server-tls.ts';
export { TLS_DEFAULTS } from './tls/tls-options.ts';
export type { TlsOptions, TlsMode, TlsCredentials, TlsVersion, Pem, SniCallback, SniSelection, AlpnCallback } from './tls/tls-options.ts';
export type { TlsInfo, TlsPeerCertificate } from './tls/describe-tls.ts';
export type { CertificateSummary, ExpiringCertificate } from './tls/certificates.ts';
export { ProxyHeaderParser, parseProxyHeader } from './proxy/proxy-parser.ts';
export type { ProxyCompleteResult, ProxyFailedResult, ProxyParseResult, ProxyParserOptions, ProxyPartialResult } from './proxy/proxy-parser.ts';
export { encodeProxyHeader } from './proxy/proxy-encoder.ts';
export { ProxyProtocolError } from './proxy/proxy-error.ts';
export type { ProxyErrorCode } from './proxy/proxy-error.ts';
export { crc32c } from './proxy/crc32c.ts';
export { DEFAULT_MAX_PROXY_HEADER_BYTES } from './proxy/proxy-header.ts';
export type {
  ProxyAddress,
  ProxyAddressInit,
  ProxyCommand,
  ProxyFamily,
  ProxyHeader,
  ProxyHeaderInit,
  ProxyInetAddress,
  ProxyRawTlv,
  ProxyRawTlvInit,
  ProxySslInfo,
  ProxySslInit,
  ProxyTlvs,
  ProxyTlvsInit,
  ProxyTransport,
  ProxyUnixAddress,
} from './proxy/proxy-header.ts';
export { DEFAULT_PROXY_TIMEOUT, MIN_PROXY_TIMEOUT } from './proxy/proxy-options.ts';
export type { ProxyProtocolOptions, UdpProxyProtocolOptions, ProxyUntrustedPolicy } from './proxy/proxy-options.ts';
export type { ProxyInfo, ProxyPeer } from './proxy/proxy-info.ts';
export type { ProxyStats } from './proxy/proxy-stats.ts';
export { framed, DEFAULT_PARTIAL_FRAME_TIMEOUT } from './framing/framed.ts';
export type { FramedHandler, FramedEventHandler, FramedSessionFunction, FramingOptions } from './framing/framed.ts';
export { FramedEventSession } from './framing/framed-event-session.ts';
export { FramedAsyncSession } from './framing/framed-async-session.ts';
export { listenUdp, UdpServer } from './udp/udp-server.ts';
export type { UdpServerStats, UdpServerEvents, UdpHandler, UdpEventHandler } from './udp/udp-server.ts';
export { Datagram } from './udp/datagram.ts';
export { DropCause } from './udp/udp-ledger.ts';
export type { DropCounts, UdpDropSummary } from './udp/udp-ledger.ts';
export { UDP_DEFAULTS } from './udp/udp-options.ts';
export type { UdpServerOptions, UdpRateLimit } from './udp/udp-options.ts';
export {
  CodecError,
  DEFAULT_MAX_FRAME_LENGTH,
  DEFAULT_MAX_LINE_LENGTH,
  createLineCodec,
  createDelimiterCodec,
  createLengthFieldCodec,
  createFixedLengthCodec,
} from './codecs/index.ts';
export type {
  FrameCodec,
  FrameInput,
  CodecErrorCode,
  LineCodecOptions,
  LineEncoding,
  DelimiterCodecOptions,
  ByteOrder,
  LengthFieldCodecOptions,
  LengthFieldLength,
  FixedLengthCodecOptions,
} from './codecs/index.ts';
export { connectTcp, dialReportOf } from './client/tcp-client.ts';
export type { DialReport } from './client/tcp-client.ts';
export { DEFAULT_CONNECT_TIMEOUT } from './client/tcp-client-options.ts';
export type { TcpClientOptions, TcpClientTlsOptions } from './client/tcp-client-options.ts';
export { connectUdp, UdpClient } from './client/udp-client.ts';
export type { UdpClientOptions, UdpRequestOptions, UdpClientStats } from './client/udp-client.ts';
export { MetricsRegistry } from './observability/metrics-registry.ts';
export type { MetricsRegistryOptions, ObserveOptions, MetricsSnapshot, ServerSnapshot, ServerSnapshotSource, LastError } from './observability/metrics-registry.ts';
export { SESSION_DURATION_BUCKETS, TLS_HANDSHAKE_BUCKETS } from './observability/histogram.ts';
export type { HistogramSnapshot } from './observability/histogram.ts';
export { METRIC_FAMILIES } from './observability/metric-families.ts';
export type { MetricFamily } from './observability/metric-families.ts';
export { PROMETHEUS_CONTENT_TYPE } from './observability/prometheus-text.ts';
export { listenMetrics, MetricsServer } from './observability/metrics-http.ts';
export type { MetricsServerOptions, StatusDocument, StatusSample } from './observability/metrics-http.ts';
export { DiagnosticsChannel } from './server/diagnostics.ts';
export type { SessionOpenMessage, SessionCloseMessage, ConnectionRejectMessage, DatagramDropMessage, ProxyHeaderMessage, ServerListenContext, TlsHandshakeContext } from './observability/channel-messages.ts';
export type { SystemdListenOption, SystemdListenOptions } from './net/passed-sockets.ts';
export { ActivationError } from './net/activation-error.ts';
export { listenFds } from './net/listen-fds.ts';
export type { ListenFd, ListenFdKind, ListenFdSet, ListenFdsOptions } from './net/listen-fds.ts';
export type { ListenEnvironment } from './net/listen-env.ts';
export { inetdConnection } from './activation/inetd.ts';
export type { InetdConnection, InetdOptions, InetdOrigin } from './activation/inetd.ts';
export { ServiceNotifier } from './activation/notify.ts';
export type { ServiceNotifierOptions, ServiceNotifierEvents, NotifyEnvironment } from './activation/notify.ts';
export { serveWorkers, WorkerSet } from './workers/worker-set.ts';
export type { ServeWorkersOptions, WorkerMode, WorkerInfo, WorkerStatsEntry, WorkerSetStats, WorkerRespawn, WorkerSetEvents, HeldSocket } from './workers/worker-set.ts';
export type { WorkerStats, UpgradeHandover, HandoverSocket } from './workers/worker-messages.ts';
export type { RespawnOptions } from './workers/respawn-policy.ts';
export { workerSetMetrics, workerSetSnapshot, workerSetSource } from './workers/worker-metrics.ts';
export { DEFAULT_TICKET_KEY_ROTATION } from './workers/ticket-keys.ts';
export type { TicketKeyState } from './workers/ticket-keys.ts';
export type { WorkerTlsFiles } from './workers/worker-tls.ts';
export type { WorkerMetricsOptions } from './workers/worker-metrics.ts';
export { startSuccessor, isUpgradeSuccessor, inheritedAddresses, receiveHandover, reportUpgradeReady, tcpMigrateReq, DEFAULT_UPGRADE_TIMEOUT } from './workers/upgrade.ts';
export type { UpgradeOptions, Successor } from './workers/upgrade.ts';
export type { UdpRelayLimits, UdpTransit } from './workers/udp-relay.ts';
