/**
 * A client's failures in Go's form -- `dial tcp 127.0.0.1:7: connection refused (ECONNREFUSED)`
 * -- with the codes a caller branches on: refused, unreachable, timed out, aborted, the server's
 * certificate refused.
 */
import { ErrorCode, OpError, opErrorFromSystem, type OpContext } from '../core/errors.ts';
import { handshakeFailureOf } from '../tls/handshake-error.ts';

/** System codes a connecting client names differently from a server (a server never dials). */
const dialReasons: Record<string, readonly [ErrorCode, string]> = {
  ECONNREFUSED: [ErrorCode.CONNECTION_REFUSED, 'connection refused'],
  EHOSTUNREACH: [ErrorCode.HOST_UNREACHABLE, 'no route to host'],
  ENETUNREACH: [ErrorCode.HOST_UNREACHABLE, 'network is unreachable'],
  ETIMEDOUT: [ErrorCode.CONNECT_TIMEOUT, 'connection timed out'],
};

// OpenSSL's verification results (and Node's name check) that mean "this is not the server you trust".
const CERTIFICATE_REFUSED = /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_|HOSTNAME_MISMATCH)/;

/** The system error of a failed connect: the first attempt's when Happy Eyeballs tried several. */
function firstAttemptError(cause: unknown): unknown {
  return cause instanceof AggregateError && cause.errors.length > 0 ? cause.errors[0] : cause;
}

/**
 * Wraps a failed connect (or a send on a connected UDP socket) in an {@link OpError}; with several
 * addresses tried, it names the first one's failure and keeps them all in `cause` (an AggregateError).
 */
export function dialError(context: OpContext, cause: unknown): OpError {
  const first = firstAttemptError(cause) as { code?: unknown; address?: unknown; port?: unknown } | undefined;
  const address = typeof first?.address === 'string' ? first.address : context.address;
  const port = typeof first?.port === 'number' ? first.port : context.port;
  const where: OpContext = { op: context.op, transport: context.transport, ...(address === undefined ? {} : { address }), ...(port === undefined ? {} : { port }) };
  const code = typeof first?.code === 'string' ? first.code : undefined;
  const known = code === undefined ? undefined : dialReasons[code];
  if (known) return new OpError(where, known[0], known[1], first);
  return opErrorFromSystem(where, first);
}

/** A TLS handshake the client started failed: the server's certificate refused, or the handshake's own reason. */
export function tlsDialError(context: OpContext, cause: unknown): OpError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && CERTIFICATE_REFUSED.test(code)) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    // OpError names a code of the E... form itself; OpenSSL's verification codes are named here.
    const named = /^E[A-Z0-9_]+$/.test(code) ? '' : ` (${code})`;
    return new OpError(context, ErrorCode.TLS_SERVER_CERTIFICATE, `server certificate refused: ${reason}${named}`, cause);
  }
  const failure = handshakeFailureOf(cause);
  return new OpError(context, failure.code, failure.message, failure);
}

/** The connection did not complete within `ms`. */
export function dialTimeout(context: OpContext, ms: number): OpError {
  return new OpError(context, ErrorCode.CONNECT_TIMEOUT, `i/o timeout (no connection within ${ms} ms)`);
}

/** The caller's signal aborted the connection attempt. */
export function dialAborted(context: OpContext, reason: unknown): OpError {
  return new OpError(context, ErrorCode.CONNECT_ABORTED, 'connection attempt aborted', reason);
}
