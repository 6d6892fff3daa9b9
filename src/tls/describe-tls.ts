/**
 * What a session reports about its TLS connection (`session.tls`), read once after the handshake.
 */
import type { TLSSocket } from 'node:tls';
import { isTlsSocket } from '../core/builtins.ts';

/** The peer's certificate as a session reports it. */
export interface TlsPeerCertificate {
  /** Subject attributes, `{ CN: 'client', O: 'Example' }`; a repeated attribute is an array. */
  readonly subject: Readonly<Record<string, string | string[]>>;
  readonly issuer: Readonly<Record<string, string | string[]>>;
  /** SHA-256 fingerprint, colon-separated hex (`AB:CD:...`). */
  readonly fingerprint256: string;
  readonly serialNumber: string;
  readonly validFrom: Date;
  readonly validTo: Date;
}

/** The negotiated parameters of a TLS connection. */
export interface TlsInfo {
  /** `'TLSv1.3'`, `'TLSv1.2'`. */
  readonly protocol: string;
  /** The cipher suite: `standardName` is the IANA name (`TLS_AES_256_GCM_SHA384`), `name` OpenSSL's. */
  readonly cipher: { readonly name: string; readonly standardName: string; readonly version: string };
  /** The ALPN protocol chosen, `null` when none was negotiated. */
  readonly alpn: string | null;
  /** The server name the client sent (SNI), `null` when it sent none. */
  readonly serverName: string | null;
  /** The client certificate was asked for and verified against `ca`. */
  readonly authorized: boolean;
  /** Why it did not verify (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`), `null` when it did or none was asked for. */
  readonly authorizationError: string | null;
  /** The client's certificate, `null` when it sent none. */
  readonly peerCertificate: TlsPeerCertificate | null;
}

/**
 * The TLS parameters of an established connection; `null` for a plaintext socket (or one whose
 * handshake has not completed).
 * @example
 * const info = describeTls(secure);
 * if (info?.peerCertificate) log(info.peerCertificate.subject.CN, info.authorized);
 */
export function describeTls(socket: unknown): TlsInfo | null {
  if (!isTlsSocket(socket)) return null;
  const protocol = socket.getProtocol();
  const cipher = socket.getCipher();
  if (protocol === null || protocol === 'unknown' || cipher === undefined) return null;
  const authorizationError = (socket as { authorizationError?: unknown }).authorizationError;
  return {
    protocol,
    cipher: { name: cipher.name, standardName: cipher.standardName, version: cipher.version },
    alpn: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
    serverName: typeof socket.servername === 'string' && socket.servername !== '' ? socket.servername : null,
    authorized: socket.authorized,
    authorizationError: typeof authorizationError === 'string' ? authorizationError : null,
    peerCertificate: peerCertificateOf(socket),
  };
}

function peerCertificateOf(socket: TLSSocket): TlsPeerCertificate | null {
  // The legacy object first: on a client socket (Node 24) it comes back empty once the X509 one was read.
  const legacy = socket.getPeerCertificate();
  const x509 = socket.getPeerX509Certificate();
  if (x509 === undefined) return null;
  return {
    subject: nameAttributes(legacy.subject),
    issuer: nameAttributes(legacy.issuer),
    fingerprint256: x509.fingerprint256,
    serialNumber: x509.serialNumber,
    validFrom: x509.validFromDate,
    validTo: x509.validToDate,
  };
}

/** A plain copy of a certificate name (Node's has a null prototype), without empty entries. */
function nameAttributes(name: Readonly<Record<string, string | string[] | undefined>> | undefined): Record<string, string | string[]> {
  const attributes: Record<string, string | string[]> = {};
  for (const [key, value] of Object.entries(name ?? {})) if (value !== undefined) attributes[key] = value;
  return attributes;
}

/**
 * Whether the connection allows half-close: plain TCP and TLS 1.3 do (a close_notify closes one
 * direction); TLS 1.2 does not (a close_notify closes the connection, RFC 5246 section 7.2.1).
 */
export function allowsHalfClose(socket: unknown): boolean {
  if (!isTlsSocket(socket)) return true;
  const protocol = socket.getProtocol();
  return protocol === null || protocol === 'TLSv1.3';
}
