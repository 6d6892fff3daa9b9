/**
 * Why a TLS handshake failed: one reason per failure, each with its stable error code, so a
 * server can count failures by reason and report them as a summary.
 */
import { ErrorCode, SwitchboardError } from '../core/errors.ts';

/** The reasons a handshake fails. */
export const HandshakeFailure = {
  /** No complete handshake within the deadline (a silent peer, a partial ClientHello). */
  TIMEOUT: 'handshake-timeout',
  /** The first bytes were not TLS: plaintext to a TLS port, garbage. */
  NOT_TLS: 'not-tls',
  /** Only versions outside `minVersion`...`maxVersion` were offered. */
  PROTOCOL_VERSION: 'protocol-version',
  /** A required client certificate was missing or did not verify. */
  CLIENT_CERTIFICATE: 'client-certificate',
  /** The client's ALPN protocols and the server's had none in common. */
  NO_APPLICATION_PROTOCOL: 'no-application-protocol',
  /** The peer closed or reset the connection first. */
  PEER_CLOSED: 'peer-closed',
  /** The handshake's `AbortSignal` fired. */
  ABORTED: 'aborted',
  /** Plaintext followed the STARTTLS command. */
  PLAINTEXT_AFTER_STARTTLS: 'plaintext-after-starttls',
  /** Anything else: an alert from the peer, no shared cipher, a failing SNI callback. */
  FAILED: 'handshake-failed',
} as const;

/** One of the {@link HandshakeFailure} values. */
export type HandshakeFailure = (typeof HandshakeFailure)[keyof typeof HandshakeFailure];

const CODES: Record<HandshakeFailure, ErrorCode> = {
  'handshake-timeout': ErrorCode.TLS_HANDSHAKE_TIMEOUT,
  'not-tls': ErrorCode.TLS_NOT_TLS,
  'protocol-version': ErrorCode.TLS_PROTOCOL_VERSION,
  'client-certificate': ErrorCode.TLS_CLIENT_CERTIFICATE,
  'no-application-protocol': ErrorCode.TLS_NO_APPLICATION_PROTOCOL,
  'peer-closed': ErrorCode.TLS_PEER_CLOSED,
  aborted: ErrorCode.TLS_HANDSHAKE_ABORTED,
  'plaintext-after-starttls': ErrorCode.TLS_PLAINTEXT_AFTER_STARTTLS,
  'handshake-failed': ErrorCode.TLS_HANDSHAKE_FAILED,
};

/**
 * A failed handshake; the connection concerned has been closed.
 * @example
 * if (err instanceof TlsHandshakeError) stats[err.reason]++;
 */
export class TlsHandshakeError extends SwitchboardError {
  declare readonly reason: HandshakeFailure;
  /** Node's or OpenSSL's code for the failure (`ERR_SSL_HTTP_REQUEST`, `ECONNRESET`), when there was one. */
  declare readonly tlsCode: string | undefined;

  /** @param options `tlsCode` defaults to the `cause`'s `code` */
  constructor(reason: HandshakeFailure, message: string, options: { cause?: unknown; tlsCode?: string } = {}) {
    super(CODES[reason], `TLS handshake failed: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    const code = (options.cause as { code?: unknown } | undefined)?.code;
    this.tlsCode = options.tlsCode ?? (typeof code === 'string' ? code : undefined);
  }
}

// OpenSSL reasons as Node names them (`ERR_SSL_` + the reason in upper case).
const NOT_TLS = new Set(['ERR_SSL_HTTP_REQUEST', 'ERR_SSL_HTTPS_PROXY_REQUEST', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LENGTH_MISMATCH', 'ERR_SSL_UNEXPECTED_MESSAGE', 'ERR_SSL_UNKNOWN_PROTOCOL', 'ERR_SSL_LENGTH_MISMATCH']);
const VERSION = new Set(['ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_VERSION_TOO_LOW', 'ERR_SSL_VERSION_TOO_HIGH', 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION']);
const CLIENT_CERTIFICATE = new Set(['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'ERR_SSL_CERTIFICATE_VERIFY_FAILED', 'ERR_SSL_NO_CERTIFICATE_RETURNED']);
const NO_APPLICATION_PROTOCOL = new Set(['ERR_SSL_NO_APPLICATION_PROTOCOL']);
const PEER_CLOSED = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);

/** Classifies an error a TLSSocket emitted during its handshake. */
export function handshakeFailureOf(error: unknown): TlsHandshakeError {
  if (error instanceof TlsHandshakeError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  const text = error instanceof Error ? (error as { reason?: unknown }).reason ?? error.message : String(error);
  const detail = typeof code === 'string' ? `${String(text)} (${code})` : String(text);
  if (typeof code === 'string') {
    if (NOT_TLS.has(code)) return new TlsHandshakeError(HandshakeFailure.NOT_TLS, `the peer did not speak TLS: ${detail}`, { cause: error });
    if (VERSION.has(code)) return new TlsHandshakeError(HandshakeFailure.PROTOCOL_VERSION, `no TLS version in common: ${detail}`, { cause: error });
    if (CLIENT_CERTIFICATE.has(code)) return new TlsHandshakeError(HandshakeFailure.CLIENT_CERTIFICATE, `client certificate refused: ${detail}`, { cause: error });
    if (NO_APPLICATION_PROTOCOL.has(code)) return new TlsHandshakeError(HandshakeFailure.NO_APPLICATION_PROTOCOL, `no ALPN protocol in common: ${detail}`, { cause: error });
    if (PEER_CLOSED.has(code)) return new TlsHandshakeError(HandshakeFailure.PEER_CLOSED, `the peer reset the connection: ${detail}`, { cause: error });
  }
  return new TlsHandshakeError(HandshakeFailure.FAILED, detail, { cause: error });
}
