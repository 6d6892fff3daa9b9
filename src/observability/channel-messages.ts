/**
 * The payloads of Switchboard's diagnostics channels (`src/server/diagnostics.ts` names them),
 * typed for subscribers: `subscribe(DiagnosticsChannel.SESSION_CLOSE, (m) => ...(m as SessionCloseMessage))`.
 */
import type { Socket } from 'node:net';
import type { SwitchboardError, Transport } from '../core/errors.ts';
import type { ProxyProtocolError } from '../proxy/proxy-error.ts';
import type { ProxyHeader } from '../proxy/proxy-header.ts';
import type { ProxyPeer } from '../proxy/proxy-info.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import type { CloseReason } from '../tcp/close-reason.ts';
import type { RejectCause } from '../tcp/reject-reason.ts';
import type { TcpServer } from '../tcp/tcp-server.ts';
import type { TcpSession } from '../tcp/tcp-session.ts';
import type { TlsMode } from '../tls/tls-options.ts';
import type { UdpDropSummary } from '../udp/udp-ledger.ts';
import type { UdpServer } from '../udp/udp-server.ts';

/** `switchboard.session.open`: published once per session, after it joined the server's sessions and before its handler runs. */
export interface SessionOpenMessage {
  readonly server: TcpServer;
  readonly session: TcpSession;
}

/** `switchboard.session.close`: published once per session that opened, as it leaves the ledger. */
export interface SessionCloseMessage {
  readonly server: TcpServer;
  readonly session: TcpSession;
  readonly reason: CloseReason;
}

/** `switchboard.connection.reject`: a connection refused before its session opened (the `rejected` event's content). */
export interface ConnectionRejectMessage {
  readonly server: TcpServer;
  readonly info: ConnectionInfo;
  readonly cause: RejectCause;
  readonly error: SwitchboardError | undefined;
}

/**
 * `switchboard.proxy.header`: published once per PROXY header from a trusted balancer, as it is
 * read (before the connection goes on to its next stage) or refused -- at the deadline too; for
 * UDP once per datagram. Nothing is published for untrusted sources (they send no header).
 */
export interface ProxyHeaderMessage {
  readonly server: TcpServer | UdpServer;
  readonly transport: Transport;
  /** Who sent the header: the connection's (the datagram's) real peer. */
  readonly balancer: ProxyPeer;
  /** The client the header names, as the session (the datagram) reports it; undefined when it failed or names none (LOCAL, v1 UNKNOWN, UNIX). */
  readonly client: ProxyPeer | undefined;
  /** The address the client dialled (the header's destination), under the same conditions. */
  readonly destination: ProxyPeer | undefined;
  /** The header's version; on a failure the one whose rules were broken, undefined before the signature told. */
  readonly version: 1 | 2 | undefined;
  /** The header as parsed; undefined on a failure. */
  readonly header: ProxyHeader | undefined;
  /** Why it was refused (`error.code` a `SWB_ERR_PROXY_*` code); undefined when it was read. */
  readonly error: ProxyProtocolError | undefined;
}

/** `switchboard.datagram.drop`: a UDP drop summary (the `drop` event's content), at most once per `dropReportInterval`. */
export interface DatagramDropMessage {
  readonly server: UdpServer;
  readonly summary: UdpDropSummary;
}

/** The context of the `switchboard.server.listen` TracingChannel; `result` is set to the bound addresses, `error` on failure. */
export interface ServerListenContext {
  readonly server: TcpServer | UdpServer;
  readonly transport: Transport;
}

/** The context of the `switchboard.tls.handshake` TracingChannel; `error` is the `TlsHandshakeError` on failure. */
export interface TlsHandshakeContext {
  /** The accepted (implicit TLS) or plaintext (STARTTLS) socket. */
  readonly socket: Socket;
  readonly mode: TlsMode;
}
