/**
 * Why a connection was refused before its session opened: the `cause` of a `rejected` event
 * (docs/limits.md lists what the peer sees for each). The same shape as a session's
 * {@link CloseReason} and a datagram's {@link DropCause}: a const object of kebab-case causes, a
 * union type of them, and an event payload with `cause` and `error`.
 */
import type { SwitchboardError } from '../core/errors.ts';
import { AccessRefusal } from '../limits/access-rules.ts';
import { zeroCounts } from '../server/cause-counts.ts';

/** The causes a connection can be refused with. */
export const RejectCause = {
  /** The server was not listening: it was closing (or still binding its other addresses). */
  CLOSING: 'closing',
  /** The peer reset or closed the connection before its session opened, or before its address could even be read. */
  PEER_GONE: 'peer-gone',
  /** The `accept` handler returned false (or failed). */
  ACCEPT_HOOK: 'accept-hook',
  /** The `accept` handler had not answered within `acceptTimeout`. */
  ACCEPT_TIMEOUT: 'accept-timeout',
  /** The peer's address matched the deny list. */
  DENIED: AccessRefusal.DENIED,
  /** An allow list is set and the peer's address is not on it. */
  NOT_ALLOWED: AccessRefusal.NOT_ALLOWED,
  /** The server is suspended (`server.suspend()`). */
  SUSPENDED: 'suspended',
  /** `maxConnections` sessions were already open. */
  MAX_CONNECTIONS: 'max-connections',
  /** `maxConnectionsPerAddress` sessions from the peer's address (or IPv6 prefix) were already open. */
  MAX_CONNECTIONS_PER_ADDRESS: 'max-connections-per-address',
  /** Connections arrived faster than `acceptRate` allows. */
  ACCEPT_RATE: 'accept-rate',
  /** The TLS handshake failed (implicit TLS): the rejection's `error` is the `TlsHandshakeError`, whose `reason` says why. */
  TLS_HANDSHAKE: 'tls-handshake',
  /** `proxyProtocol`: the peer is not in `proxyProtocol.from` and `untrusted` is `'refuse'`. */
  PROXY_UNTRUSTED: 'proxy-untrusted',
  /** `proxyProtocol`: a trusted peer's PROXY header was missing, invalid or cut short; the rejection's `error` is the `ProxyProtocolError`. */
  PROXY_HEADER: 'proxy-header',
  /** `proxyProtocol`: a trusted peer sent no complete PROXY header within `proxyProtocol.timeout` (`error`: `SWB_ERR_PROXY_TIMEOUT`). */
  PROXY_TIMEOUT: 'proxy-timeout',
} as const;

/** One of the {@link RejectCause} values. */
export type RejectCause = (typeof RejectCause)[keyof typeof RejectCause];

/** Why one connection was refused, as the `rejected` event reports it. */
export interface RejectReason {
  readonly cause: RejectCause;
  /** The error behind the cause, when there was one: the `accept` handler's failure (`SWB_ERR_HANDLER_FAILED`), the `TlsHandshakeError`, the `ProxyProtocolError`. */
  readonly error: SwitchboardError | undefined;
}

/** Counts by reject cause, as `stats().rejectedBy` gives them. */
export type RejectCounts = Record<RejectCause, number>;

/** Zeroed counts for every cause. */
export function zeroRejectCounts(): RejectCounts {
  return zeroCounts(RejectCause);
}

/** Causes after which the peer is sent `busyMessage` (it is at capacity, not unwelcome). */
export function isBusyCause(cause: RejectCause): boolean {
  return (
    cause === RejectCause.SUSPENDED ||
    cause === RejectCause.MAX_CONNECTIONS ||
    cause === RejectCause.MAX_CONNECTIONS_PER_ADDRESS ||
    cause === RejectCause.ACCEPT_RATE
  );
}
