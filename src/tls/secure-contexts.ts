/**
 * Every `SecureContext` a TLS server uses, built up front, and the choice among them by server
 * name. A `TlsContextSet` is immutable; `TlsContexts` holds the one in effect and swaps it whole
 * on reload, so a handshake sees one consistent set and the next handshake sees the new one.
 */
import type { X509Certificate } from 'node:crypto';
import type { SecureContext, TLSSocketOptions } from 'node:tls';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';
import { checkKeyPair, credentialsError, expiringCertificates, parseCertificates, parsePrivateKey, summarizeCertificate, type CertificateSummary, type ExpiringCertificate } from './certificates.ts';
import { isSecureContext, normalizeServerName, normalizeTlsCredentials, normalizeTlsOptions, type NormalizedTlsCredentials, type NormalizedTlsOptions, type Pem, type SniSelection, type TlsOptions } from './tls-options.ts';
import { nodeTls } from '../core/builtins.ts';

/** The options every context shares: the client CA and the version range. */
interface SharedContextOptions {
  readonly ca: readonly Pem[] | undefined;
  readonly minVersion: NormalizedTlsOptions['minVersion'];
  readonly maxVersion: NormalizedTlsOptions['maxVersion'];
  readonly ticketKeys: Buffer | undefined;
}

/**
 * One consistent set of contexts built from checked options.
 * @internal constructed by {@link TlsContexts}
 */
export class TlsContextSet {
  readonly options: NormalizedTlsOptions;
  /** The context for no server name, or one no entry serves. */
  readonly defaultContext: SecureContext;
  /** The certificates of every context built here (not those of a caller's `secureContext`). */
  readonly certificates: readonly CertificateSummary[];
  /** What `new tls.TLSSocket(socket, ...)` gets for every handshake with this set. */
  readonly socketOptions: Readonly<TLSSocketOptions>;
  readonly #exact = new Map<string, SecureContext>();
  /** Wildcard entries by the suffix after `*.`. */
  readonly #wildcards = new Map<string, SecureContext>();
  /** Contexts built from what the SNI callback returned, once per returned object. */
  readonly #fromCallback = new WeakMap<object, SecureContext>();
  readonly #shared: SharedContextOptions;

  /** @throws {SwitchboardError} `SWB_ERR_TLS_CREDENTIALS` naming the option whose material does not load */
  constructor(options: NormalizedTlsOptions) {
    this.options = options;
    this.#shared = { ca: options.ca, minVersion: options.minVersion, maxVersion: options.maxVersion, ticketKeys: options.ticketKeys };
    if (options.ca !== undefined) for (const pem of options.ca) parseCertificates(`${options.credentials.option}.ca`, pem);
    const certificates: CertificateSummary[] = [];
    const defaults = buildContext(options.credentials, this.#shared);
    this.defaultContext = defaults.context;
    certificates.push(...defaults.leaves.map((leaf) => summarizeCertificate(options.credentials.option, null, leaf)));
    for (const [servername, credentials] of options.sni) {
      const built = buildContext(credentials, this.#shared);
      if (servername.startsWith('*.')) this.#wildcards.set(servername.slice(2), built.context);
      else this.#exact.set(servername, built.context);
      certificates.push(...built.leaves.map((leaf) => summarizeCertificate(credentials.option, servername, leaf)));
    }
    this.certificates = certificates;
    this.socketOptions = this.#socketOptions();
  }

  /**
   * The context for a server name: an exact `sni` entry, then a wildcard one, then the callback,
   * then the default. Sync unless the callback is consulted.
   * @throws {SwitchboardError} when the callback fails or returns material that does not load
   */
  select(servername: string | undefined): SecureContext | Promise<SecureContext> {
    if (servername === undefined || servername === '') return this.defaultContext;
    const name = normalizeServerName(servername);
    const dot = name.indexOf('.');
    const found = this.#exact.get(name) ?? (dot > 0 ? this.#wildcards.get(name.slice(dot + 1)) : undefined);
    if (found !== undefined) return found;
    const callback = this.options.sniCallback;
    if (callback === undefined) return this.defaultContext;
    const selection = callback(name);
    return selection instanceof Promise ? selection.then((value) => this.#fromSelection(name, value)) : this.#fromSelection(name, selection);
  }

  /** Certificates expiring within the `expiryWarning` window, soonest first. */
  expiringCertificates(now = Date.now()): ExpiringCertificate[] {
    return expiringCertificates(this.certificates, this.options.expiryWarning, now);
  }

  #fromSelection(servername: string, selection: SniSelection): SecureContext {
    if (selection === undefined) return this.defaultContext;
    if (isSecureContext(selection)) return selection;
    const cached = this.#fromCallback.get(selection);
    if (cached !== undefined) return cached;
    const where = `${this.options.credentials.option}.sniCallback(${JSON.stringify(servername)})`;
    const { context } = buildContext(normalizeTlsCredentials(where, selection, this.#shared.ca), this.#shared);
    this.#fromCallback.set(selection, context);
    return context;
  }

  #socketOptions(): TLSSocketOptions {
    const { options } = this;
    const socketOptions: TLSSocketOptions = {
      isServer: true,
      secureContext: this.defaultContext,
      requestCert: options.requestCert,
      rejectUnauthorized: options.rejectUnauthorized,
    };
    if (options.ALPNProtocols !== undefined) socketOptions.ALPNProtocols = alpnWireFormat(options.ALPNProtocols);
    if (options.ALPNCallback !== undefined) socketOptions.ALPNCallback = options.ALPNCallback as TLSSocketOptions['ALPNCallback'];
    // Without names to choose among, no SNI callback: Node then skips its certificate callback.
    if (options.sni.size > 0 || options.sniCallback !== undefined) socketOptions.SNICallback = (servername, done) => this.#onSni(servername, done);
    return socketOptions;
  }

  #onSni(servername: string, done: (error: Error | null, context?: SecureContext) => void): void {
    const chosen = (context: SecureContext): void => done(null, context === this.defaultContext ? undefined : context);
    let selection: SecureContext | Promise<SecureContext>;
    try {
      selection = this.select(servername);
    } catch (error) {
      done(sniError(servername, error));
      return;
    }
    if (selection instanceof Promise) selection.then(chosen, (error: unknown) => done(sniError(servername, error)));
    else chosen(selection);
  }
}

/**
 * The TLS contexts of a server: built and checked at construction, replaced whole on reload.
 * @example
 * const contexts = new TlsContexts({ key, cert, sni: { 'a.test': { key: aKey, cert: aCert } } });
 * contexts.replace({ key: newKey, cert: newCert }); // the next handshake gets the new certificate
 */
export class TlsContexts {
  #current: TlsContextSet;

  /**
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a malformed option
   * @throws {SwitchboardError} `SWB_ERR_TLS_CREDENTIALS` naming the option whose material does not load
   */
  constructor(options: TlsOptions) {
    this.#current = new TlsContextSet(normalizeTlsOptions(options));
  }

  /** The set in effect; a handshake takes it once, at its start. */
  get current(): TlsContextSet {
    return this.#current;
  }

  /**
   * Replaces every context at once. The new options are checked and every context built before
   * anything changes; on failure the contexts in use stay. Handshakes already running finish
   * with the set they started with; open connections are untouched.
   * @throws {SwitchboardError} `SWB_ERR_TLS_RELOAD_FAILED`, with the option or credentials error as `cause`
   */
  replace(options: TlsOptions): void {
    let next: TlsContextSet;
    try {
      next = new TlsContextSet(normalizeTlsOptions(options));
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new SwitchboardError(ErrorCode.TLS_RELOAD_FAILED, `TLS reload failed, the certificates in use are kept: ${reason}`, { cause });
    }
    this.#current = next;
  }
}

/** Builds one context after checking its parts, so that a failure names the option. */
function buildContext(credentials: NormalizedTlsCredentials, shared: SharedContextOptions): { context: SecureContext; leaves: X509Certificate[] } {
  if (credentials.secureContext !== undefined) return { context: credentials.secureContext, leaves: [] };
  const leaves = credentials.cert.map((pem) => parseCertificates(`${credentials.option}.cert`, pem)[0]!);
  credentials.key.forEach((pem, index) => {
    checkKeyPair(`${credentials.option}.key`, leaves[index]!, parsePrivateKey(`${credentials.option}.key`, pem, credentials.passphrase));
  });
  try {
    const context = nodeTls().createSecureContext({
      key: [...credentials.key],
      cert: [...credentials.cert],
      ...(credentials.passphrase === undefined ? {} : { passphrase: credentials.passphrase }),
      ...(shared.ca === undefined ? {} : { ca: [...shared.ca] }),
      minVersion: shared.minVersion,
      maxVersion: shared.maxVersion,
      ...(shared.ticketKeys === undefined ? {} : { ticketKeys: shared.ticketKeys }),
    });
    return { context, leaves };
  } catch (cause) {
    const reason = (cause as { reason?: unknown }).reason;
    throw credentialsError(credentials.option, `cannot be loaded: ${typeof reason === 'string' ? reason : String(cause)}`, cause);
  }
}

/** ALPN protocol names in the wire format Node takes: each prefixed with its length. */
function alpnWireFormat(protocols: readonly string[]): Buffer {
  return Buffer.concat(protocols.map((protocol) => {
    const name = Buffer.from(protocol);
    return Buffer.concat([Buffer.from([name.length]), name]);
  }));
}

function sniError(servername: string, cause: unknown): SwitchboardError {
  if (cause instanceof SwitchboardError) return cause;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new SwitchboardError(ErrorCode.TLS_HANDSHAKE_FAILED, `SNI callback failed for ${JSON.stringify(servername)}: ${reason}`, { cause });
}
