/**
 * Reading PEM material before Node builds a context from it, so a failure names the option
 * (`tls.sni["a.test"].key`), and what a certificate says about its expiry.
 * `tls.createSecureContext()` alone accepts a garbage `ca` silently and reports a bad key as
 * `DECODER routines::unsupported`; these checks say which part is wrong.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';
import type { Pem } from './tls-options.ts';
import { nodeCrypto } from '../core/builtins.ts';

/** A server certificate in use, as the expiry warning reports it. */
export interface CertificateSummary {
  /** The option it came from: `tls`, `tls.sni["a.test"]`. */
  readonly option: string;
  /** The SNI name it serves, `null` for the default certificate. */
  readonly servername: string | null;
  readonly subject: string;
  readonly validTo: Date;
  readonly fingerprint256: string;
}

/** A certificate that expires within the warning window (or has expired). */
export interface ExpiringCertificate extends CertificateSummary {
  /** Milliseconds until `validTo`; negative once expired. */
  readonly expiresInMs: number;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Every certificate in a PEM text (a chain or a CA bundle), in order.
 * @throws {SwitchboardError} `SWB_ERR_TLS_CREDENTIALS` naming `option` when there is none or one does not parse
 */
export function parseCertificates(option: string, pem: Pem): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw credentialsError(option, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((block, index) => {
    try {
      return new (nodeCrypto().X509Certificate)(block);
    } catch (cause) {
      throw credentialsError(option, `has a certificate that does not parse (number ${index + 1})`, cause);
    }
  });
}

/**
 * The private key in a PEM text, decrypted with `passphrase` when given.
 * @throws {SwitchboardError} `SWB_ERR_TLS_CREDENTIALS` naming `option` when it does not load
 */
export function parsePrivateKey(option: string, pem: Pem, passphrase: string | undefined): KeyObject {
  try {
    return nodeCrypto().createPrivateKey(passphrase === undefined ? { key: pem } : { key: pem, passphrase });
  } catch (cause) {
    const reason = passphrase === undefined ? 'is not a PEM private key (or is encrypted and no `passphrase` was given)' : 'is not a PEM private key, or `passphrase` does not decrypt it';
    throw credentialsError(option, reason, cause);
  }
}

/**
 * Checks that `key` belongs to the leaf certificate.
 * @throws {SwitchboardError} `SWB_ERR_TLS_CREDENTIALS` naming `option` when it does not
 */
export function checkKeyPair(option: string, leaf: X509Certificate, key: KeyObject): void {
  if (!leaf.checkPrivateKey(key)) throw credentialsError(option, `does not match its certificate (${oneLine(leaf.subject)})`);
}

/** The summary of a leaf certificate for the expiry warning. */
export function summarizeCertificate(option: string, servername: string | null, leaf: X509Certificate): CertificateSummary {
  return { option, servername, subject: oneLine(leaf.subject), validTo: leaf.validToDate, fingerprint256: leaf.fingerprint256 };
}

/**
 * The certificates that expire within `windowMs` of `now` (or have expired), soonest first.
 * A window of 0 disables the warning: nothing is returned.
 * @example
 * for (const cert of expiringCertificates(contexts.current.certificates, 14 * 86_400_000)) warn(cert);
 */
export function expiringCertificates(certificates: readonly CertificateSummary[], windowMs: number, now = Date.now()): ExpiringCertificate[] {
  if (windowMs <= 0) return [];
  return certificates
    .map((certificate) => ({ ...certificate, expiresInMs: certificate.validTo.getTime() - now }))
    .filter((certificate) => certificate.expiresInMs <= windowMs)
    .sort((a, b) => a.expiresInMs - b.expiresInMs);
}

/** A `SWB_ERR_TLS_CREDENTIALS` error: `` `tls.key` does not match its certificate (CN=localhost) ``. */
export function credentialsError(option: string, reason: string, cause?: unknown): SwitchboardError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  const suffix = typeof code === 'string' ? ` (${code})` : '';
  return new SwitchboardError(ErrorCode.TLS_CREDENTIALS, `\`${option}\` ${reason}${suffix}`, cause === undefined ? undefined : { cause });
}

/** `CN=a.test, O=Example` from X509Certificate's one-attribute-per-line form. */
function oneLine(name: string): string {
  return name.split('\n').join(', ');
}
