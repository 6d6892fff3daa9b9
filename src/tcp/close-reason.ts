/**
 * Why a session ended. Every session that opens closes exactly once, with exactly one reason:
 * the first cause recorded wins (docs/lifecycle.md).
 */
import type { SwitchboardError } from '../core/errors.ts';
import { zeroCounts } from '../server/cause-counts.ts';

/** The causes a session can close with. */
export const CloseCause = {
  /** The peer half-closed and the session finished its side. */
  PEER_END: 'peer-end',
  /** The peer reset the connection (ECONNRESET, EPIPE). */
  PEER_RESET: 'peer-reset',
  /** The application called `session.end()`. */
  LOCAL_END: 'local-end',
  /** The application called `session.destroy()`. */
  LOCAL_DESTROY: 'local-destroy',
  /** No traffic for the idle timeout. */
  IDLE_TIMEOUT: 'idle-timeout',
  /** A handler threw or rejected. */
  HANDLER_ERROR: 'handler-error',
  /** Some other socket error. */
  SOCKET_ERROR: 'socket-error',
  /** A limit or deadline was hit (output overflow, frame too large, slow peer). */
  LIMIT: 'limit',
  /** `server.close()` ended the session gracefully (or at its deadline). */
  SERVER_CLOSE: 'server-close',
  /** `server.destroy()` ended the session at once. */
  SERVER_DESTROY: 'server-destroy',
  /** `session.startTls()` failed: plaintext followed the command, or the handshake failed (the error says which). */
  TLS_HANDSHAKE: 'tls-handshake',
} as const;

/** One of the {@link CloseCause} values. */
export type CloseCause = (typeof CloseCause)[keyof typeof CloseCause];

/** The reason a session closed, given to the `close` handler and by `session.closed`. */
export interface CloseReason {
  readonly cause: CloseCause;
  /** The error behind the cause, when there was one. */
  readonly error: SwitchboardError | undefined;
}

/** Counts by close cause, as `stats().closedBy` gives them. */
export type CloseCounts = Record<CloseCause, number>;

/** Zeroed counts for every cause. */
export function zeroCloseCounts(): CloseCounts {
  return zeroCounts(CloseCause);
}
