/**
 * Switchboard's `diagnostics_channel` channels: fixed names, created once here, in the layer both
 * transports import, so each publish point is one `if (channel.hasSubscribers) channel.publish(...)`.
 * With nobody subscribed, `hasSubscribers` is false and no payload is built (docs/observability.md).
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';

/**
 * The channel names, `switchboard.<area>.<event>` as Node's own `net.server.socket`. A
 * `TracingChannel` named `switchboard.server.listen` publishes on
 * `tracing:switchboard.server.listen:start|end|asyncStart|asyncEnd|error`.
 */
export const DiagnosticsChannel = {
  /** A TCP session opened: `{ server, session }`. */
  SESSION_OPEN: 'switchboard.session.open',
  /** A TCP session closed, once: `{ server, session, reason }` (`reason` its `CloseReason`). */
  SESSION_CLOSE: 'switchboard.session.close',
  /** A connection refused before its session opened: `{ server, info, cause, error }`. */
  CONNECTION_REJECT: 'switchboard.connection.reject',
  /**
   * A PROXY header read (a TCP connection's, a UDP datagram's) or refused, the deadline included:
   * `{ server, transport, balancer, client, destination, version, header, error }`.
   */
  PROXY_HEADER: 'switchboard.proxy.header',
  /** A UDP drop summary (at most once per `dropReportInterval`): `{ server, summary }`. */
  DATAGRAM_DROP: 'switchboard.datagram.drop',
  /** TracingChannel around `server.listen()`: context `{ server, transport }`, `result` the bound addresses. */
  SERVER_LISTEN: 'switchboard.server.listen',
  /** TracingChannel around each TLS handshake (implicit and STARTTLS): context `{ socket, mode }`. */
  TLS_HANDSHAKE: 'switchboard.tls.handshake',
} as const;
/** One of the {@link DiagnosticsChannel} names. */
export type DiagnosticsChannel = (typeof DiagnosticsChannel)[keyof typeof DiagnosticsChannel];

/** @internal */
export const sessionOpenChannel = channel(DiagnosticsChannel.SESSION_OPEN);
/** @internal */
export const sessionCloseChannel = channel(DiagnosticsChannel.SESSION_CLOSE);
/** @internal */
export const connectionRejectChannel = channel(DiagnosticsChannel.CONNECTION_REJECT);
/** @internal */
export const proxyHeaderChannel = channel(DiagnosticsChannel.PROXY_HEADER);
/** @internal */
export const datagramDropChannel = channel(DiagnosticsChannel.DATAGRAM_DROP);
/** @internal */
export const serverListenChannel = tracingChannel<unknown, object>(DiagnosticsChannel.SERVER_LISTEN);
/** @internal */
export const tlsHandshakeChannel = tracingChannel<unknown, object>(DiagnosticsChannel.TLS_HANDSHAKE);
