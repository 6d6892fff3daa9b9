/**
 * Why a connection was refused before its session opened: the `reason` of a `rejected` event
 * (docs/limits.md lists what the peer sees for each).
 */

/** The reasons a connection can be refused with. */
export const RejectReason = {
  /** The server was not listening: it was closing (or still binding its other addresses). */
  CLOSING: 'closing',
  /** The peer reset or closed the connection before its session opened, or before its address could even be read. */
  PEER_GONE: 'peer-gone',
  /** The `accept` handler returned false (or failed). */
  ACCEPT_HOOK: 'accept-hook',
  /** The `accept` handler had not answered within `acceptTimeout`. */
  ACCEPT_TIMEOUT: 'accept-timeout',
  /** The peer's address matched the deny list. */
  DENIED: 'denied',
  /** An allow list is set and the peer's address is not on it. */
  NOT_ALLOWED: 'not-allowed',
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
} as const;

/** One of the {@link RejectReason} values. */
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** Reasons after which the peer is sent `busyMessage` (it is at capacity, not unwelcome). */
export function isBusyReason(reason: RejectReason): boolean {
  return (
    reason === RejectReason.SUSPENDED ||
    reason === RejectReason.MAX_CONNECTIONS ||
    reason === RejectReason.MAX_CONNECTIONS_PER_ADDRESS ||
    reason === RejectReason.ACCEPT_RATE
  );
}
