/**
 * The `tls` option of a TCP server, checked once: shapes, ranges and unknown keys here; whether
 * the PEM material loads is checked when the contexts are built (secure-contexts.ts).
 */
import type { SecureContext } from 'node:tls';
import { InvalidOptionError } from '../core/errors.ts';
import { nearestName } from '../core/nearest-name.ts';
import {
  booleanOption,
  durationOption,
  findUnknownKey,
  integerOption,
  optionNames,
  optionsObject,
  type OptionKeyRecord,
  type OptionNames,
} from '../core/options.ts';
import { nodeTls } from '../core/builtins.ts';

/** PEM text, as a string or the bytes of a file. */
export type Pem = string | Buffer;

/** The TLS versions a server may accept. */
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

/**
 * How a server uses its TLS material: `implicit` speaks TLS from the first byte on every
 * connection; `starttls` opens sessions in plaintext and upgrades each on `session.startTls()`.
 */
export type TlsMode = 'implicit' | 'starttls';

/** A certificate and its key, or a `SecureContext` built by the caller. */
export interface TlsCredentials {
  /** The private key(s), PEM; one per certificate type (e.g. RSA and ECDSA). */
  key?: Pem | readonly Pem[];
  /** The certificate chain(s), PEM, leaf first. */
  cert?: Pem | readonly Pem[];
  /** Decrypts an encrypted `key`. */
  passphrase?: string;
  /**
   * A context from `tls.createSecureContext()`, used as is instead of `key`/`cert`: `ca`,
   * `minVersion` and `maxVersion` are not applied to it, so it must carry its own.
   */
  secureContext?: SecureContext;
}

/** What an {@link SniCallback} may return: material, a ready context, or nothing for the default. */
export type SniSelection = TlsCredentials | SecureContext | undefined;

/**
 * Chooses the certificate for a server name not in `sni` (a dynamic store). Material it returns
 * is built into a context with the server's `ca` and versions, once per returned object.
 */
export type SniCallback = (servername: string) => SniSelection | Promise<SniSelection>;

/** Chooses one of the client's ALPN protocols, or `undefined` to refuse them all. */
export type AlpnCallback = (info: { readonly servername: string | undefined; readonly protocols: readonly string[] }) => string | undefined;

/** The `tls` option: TLS on every connection of a TCP server (docs/tls.md). */
export interface TlsOptions extends TlsCredentials {
  /** TLS from the first byte, or in plaintext until `session.startTls()`. @default 'implicit' */
  mode?: TlsMode;
  /** CA certificates that client certificates must chain to; added to every context Switchboard builds. */
  ca?: Pem | readonly Pem[];
  /** Ask the client for a certificate. @default false */
  requestCert?: boolean;
  /** With `requestCert`: close connections whose client certificate is missing or fails verification. @default true */
  rejectUnauthorized?: boolean;
  /** ALPN protocols served, in order of preference; a client offering none of them gets `no_application_protocol`. */
  ALPNProtocols?: readonly string[];
  /** Chooses the ALPN protocol per connection; not together with `ALPNProtocols`. */
  ALPNCallback?: AlpnCallback;
  /** The lowest TLS version accepted. @default 'TLSv1.2' */
  minVersion?: TlsVersion;
  /** The highest TLS version accepted. @default 'TLSv1.3' */
  maxVersion?: TlsVersion;
  /** Certificates by server name (SNI); `*.example.com` matches one label. The top-level material is the default. */
  sni?: Readonly<Record<string, TlsCredentials>> | ReadonlyMap<string, TlsCredentials>;
  /** Consulted for names `sni` does not hold; `undefined` selects the default. */
  sniCallback?: SniCallback;
  /** Close a connection whose handshake has not completed after this many ms. @default 10000 */
  handshakeTimeout?: number;
  /** Warn when a certificate expires within this many ms; 0 disables. @default 1209600000 (14 days) */
  expiryWarning?: number;
  /**
   * The session-ticket keys (48 bytes) of every context Switchboard builds, so that servers in
   * several processes resume each other's sessions (workers share them: docs/workers.md).
   * Not applied to a `secureContext` of yours. @default random per context (Node's)
   */
  ticketKeys?: Uint8Array;
}

/** Credentials after checking: PEM lists, or a caller's context. @internal */
export interface NormalizedTlsCredentials {
  /** Where they were given, for messages: `tls`, `tls.sni["a.test"]`. */
  readonly option: string;
  readonly key: readonly Pem[];
  readonly cert: readonly Pem[];
  readonly passphrase: string | undefined;
  readonly secureContext: SecureContext | undefined;
}

/** TLS options after checking, with defaults applied. @internal */
export interface NormalizedTlsOptions {
  readonly mode: TlsMode;
  readonly credentials: NormalizedTlsCredentials;
  readonly ca: readonly Pem[] | undefined;
  readonly requestCert: boolean;
  readonly rejectUnauthorized: boolean;
  readonly ALPNProtocols: readonly string[] | undefined;
  readonly ALPNCallback: AlpnCallback | undefined;
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
  /** Lower-cased names, without a trailing dot; wildcards keep their `*.`. */
  readonly sni: ReadonlyMap<string, NormalizedTlsCredentials>;
  readonly sniCallback: SniCallback | undefined;
  readonly handshakeTimeout: number;
  readonly expiryWarning: number;
  readonly ticketKeys: Buffer | undefined;
}

/** The length of `ticketKeys`: Node's (a 16-byte name, a 16-byte HMAC key, a 16-byte AES key). */
export const TICKET_KEYS_LENGTH = 48;

/** Defaults of the `tls` option. */
export const TLS_DEFAULTS = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  handshakeTimeout: 10_000,
  expiryWarning: 14 * 24 * 60 * 60 * 1000,
} as const;

const MODES: readonly TlsMode[] = ['implicit', 'starttls'];
const VERSIONS: readonly TlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
const CREDENTIAL_KEYS: OptionKeyRecord<TlsCredentials> = { key: true, cert: true, passphrase: true, secureContext: true };
const CREDENTIAL_NAMES = optionNames<TlsCredentials>(CREDENTIAL_KEYS);
const OPTION_NAMES = optionNames<TlsOptions>({
  ...CREDENTIAL_KEYS,
  ca: true, requestCert: true, rejectUnauthorized: true, ALPNProtocols: true, ALPNCallback: true, minVersion: true, maxVersion: true,
  sni: true, sniCallback: true, handshakeTimeout: true, expiryWarning: true, mode: true, ticketKeys: true,
});
const MAX_TIMER_MS = 2 ** 31 - 1;
const SERVER_NAME = /^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;

/**
 * Checks the `tls` option and applies defaults.
 * @param name how the option is named in messages
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the option (`tls.minVersion`, `tls.sni["a.test"].key`) and its constraint
 * @example
 * normalizeTlsOptions({ key, cert, ALPNProtocols: ['h2'] });
 */
export function normalizeTlsOptions(input: TlsOptions, name = 'tls'): NormalizedTlsOptions {
  if (input === undefined) throw new InvalidOptionError(name, 'must be an object', input);
  const options = optionsObject(name, input);
  rejectUnknownKeys(name, options, OPTION_NAMES);
  const ca = options.ca === undefined ? undefined : pemList(`${name}.ca`, options.ca);
  const credentials = normalizeCredentials(name, options, ca);
  const requestCert = booleanOption(`${name}.requestCert`, options.requestCert, false);
  const rejectUnauthorized = booleanOption(`${name}.rejectUnauthorized`, options.rejectUnauthorized, true);
  if (options.ALPNProtocols !== undefined && options.ALPNCallback !== undefined) {
    throw new InvalidOptionError(`${name}.ALPNCallback`, 'must not be given together with `ALPNProtocols`', options.ALPNCallback);
  }
  if (options.ALPNCallback !== undefined && typeof options.ALPNCallback !== 'function') {
    throw new InvalidOptionError(`${name}.ALPNCallback`, 'must be a function', options.ALPNCallback);
  }
  if (options.sniCallback !== undefined && typeof options.sniCallback !== 'function') {
    throw new InvalidOptionError(`${name}.sniCallback`, 'must be a function', options.sniCallback);
  }
  const minVersion = versionOption(`${name}.minVersion`, options.minVersion, TLS_DEFAULTS.minVersion);
  const maxVersion = versionOption(`${name}.maxVersion`, options.maxVersion, TLS_DEFAULTS.maxVersion);
  if (VERSIONS.indexOf(minVersion) > VERSIONS.indexOf(maxVersion)) {
    throw new InvalidOptionError(`${name}.minVersion`, `must not be above \`maxVersion\` (${maxVersion})`, minVersion);
  }
  if (options.mode !== undefined && !MODES.includes(options.mode)) {
    throw new InvalidOptionError(`${name}.mode`, `must be one of ${MODES.map((m) => `"${m}"`).join(', ')}`, options.mode);
  }
  if (options.ticketKeys !== undefined && (!(options.ticketKeys instanceof Uint8Array) || options.ticketKeys.byteLength !== TICKET_KEYS_LENGTH)) {
    throw new InvalidOptionError(`${name}.ticketKeys`, `must be a Buffer or Uint8Array of ${TICKET_KEYS_LENGTH} bytes`, options.ticketKeys);
  }
  return {
    mode: options.mode ?? 'implicit',
    credentials,
    ca,
    requestCert,
    rejectUnauthorized,
    ALPNProtocols: options.ALPNProtocols === undefined ? undefined : alpnList(`${name}.ALPNProtocols`, options.ALPNProtocols),
    ALPNCallback: options.ALPNCallback,
    minVersion,
    maxVersion,
    sni: sniMap(`${name}.sni`, options.sni, ca),
    sniCallback: options.sniCallback,
    handshakeTimeout: integerOption(`${name}.handshakeTimeout`, options.handshakeTimeout, TLS_DEFAULTS.handshakeTimeout, 1, MAX_TIMER_MS),
    expiryWarning: durationOption(`${name}.expiryWarning`, options.expiryWarning, TLS_DEFAULTS.expiryWarning),
    ticketKeys: options.ticketKeys === undefined ? undefined : Buffer.from(options.ticketKeys),
  };
}

/** A context made by `tls.createSecureContext()`. */
export function isSecureContext(value: unknown): value is SecureContext {
  // `tls.SecureContext` is exported at runtime but not declared by @types/node.
  const SecureContextClass = (nodeTls() as unknown as { SecureContext?: abstract new (...args: never[]) => SecureContext }).SecureContext;
  if (SecureContextClass !== undefined) return value instanceof SecureContextClass;
  return typeof value === 'object' && value !== null && 'context' in value;
}

/**
 * A server name as SNI sends it, for lookups: lower case, no trailing dot.
 * @example normalizeServerName('A.Test.') // 'a.test'
 */
export function normalizeServerName(servername: string): string {
  const lower = servername.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function normalizeCredentials(name: string, options: Partial<TlsCredentials>, ca: readonly Pem[] | undefined): NormalizedTlsCredentials {
  const { secureContext } = options;
  if (secureContext !== undefined) {
    if (!isSecureContext(secureContext)) {
      throw new InvalidOptionError(`${name}.secureContext`, 'must be a SecureContext from tls.createSecureContext()', secureContext);
    }
    for (const key of ['key', 'cert', 'passphrase'] as const) {
      if (options[key] !== undefined) throw new InvalidOptionError(`${name}.${key}`, 'must not be given together with `secureContext`', options[key]);
    }
    if (ca !== undefined) {
      // Node applies no `ca` to a context it did not build: client verification would silently use the context's own.
      throw new InvalidOptionError(`${name}.secureContext`, 'cannot be combined with `ca`, which is not applied to a context you build: pass `ca` to your tls.createSecureContext() call instead', secureContext);
    }
    return { option: name, key: [], cert: [], passphrase: undefined, secureContext };
  }
  if (options.key === undefined) throw new InvalidOptionError(`${name}.key`, 'is required (or `secureContext`)', options.key);
  if (options.cert === undefined) throw new InvalidOptionError(`${name}.cert`, 'is required (or `secureContext`)', options.cert);
  if (options.passphrase !== undefined && typeof options.passphrase !== 'string') {
    throw new InvalidOptionError(`${name}.passphrase`, 'must be a string', options.passphrase);
  }
  const key = pemList(`${name}.key`, options.key);
  const cert = pemList(`${name}.cert`, options.cert);
  if (key.length !== cert.length) {
    throw new InvalidOptionError(`${name}.key`, `must list one key per certificate (${cert.length})`, options.key);
  }
  return { option: name, key, cert, passphrase: options.passphrase, secureContext: undefined };
}

function sniMap(name: string, value: unknown, ca: readonly Pem[] | undefined): ReadonlyMap<string, NormalizedTlsCredentials> {
  const map = new Map<string, NormalizedTlsCredentials>();
  if (value === undefined) return map;
  let entries: [unknown, unknown][];
  if (value instanceof Map) entries = [...value.entries()];
  else entries = Object.entries(optionsObject(name, value as object));
  for (const [servername, credentials] of entries) {
    const where = `${name}[${JSON.stringify(servername)}]`;
    if (typeof servername !== 'string') throw new InvalidOptionError(name, 'must have string server names', servername);
    const normalized = normalizeServerName(servername);
    if (!SERVER_NAME.test(normalized)) {
      throw new InvalidOptionError(name, 'must have DNS names as keys (a leading `*.` for a wildcard)', servername);
    }
    if (map.has(normalized)) throw new InvalidOptionError(where, `names the same server as another entry (${normalized})`, servername);
    map.set(normalized, normalizeTlsCredentials(where, credentials, ca));
  }
  return map;
}

/**
 * Checks one set of credentials (an `sni` entry, or what an {@link SniCallback} returned).
 * @throws {InvalidOptionError} naming `name` and the part that is wrong
 */
export function normalizeTlsCredentials(name: string, value: unknown, ca: readonly Pem[] | undefined): NormalizedTlsCredentials {
  const entry = optionsObject(name, value as TlsCredentials);
  rejectUnknownKeys(name, entry, CREDENTIAL_NAMES);
  return normalizeCredentials(name, entry, ca);
}

function rejectUnknownKeys(name: string, options: object, known: OptionNames): void {
  const key = findUnknownKey(options, known);
  if (key === undefined) return;
  const nearest = nearestName(key, known.names);
  const hint = nearest === undefined ? '' : `; did you mean \`${nearest}\`?`;
  throw new InvalidOptionError(`${name}.${key}`, `is not a TLS option (known: ${known.names.join(', ')}${hint})`, (options as Record<string, unknown>)[key]);
}

function pemList(name: string, value: unknown): Pem[] {
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  if (list.length === 0) throw new InvalidOptionError(name, 'must not be an empty list', value);
  return list.map((item) => {
    if ((typeof item !== 'string' && !Buffer.isBuffer(item)) || item.length === 0) {
      throw new InvalidOptionError(name, 'must be PEM text: a non-empty string or Buffer, or a list of them', item);
    }
    return item;
  });
}

function alpnList(name: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new InvalidOptionError(name, 'must be a non-empty array of protocol names', value);
  for (const protocol of value) {
    if (typeof protocol !== 'string' || protocol.length === 0 || Buffer.byteLength(protocol) > 255) {
      throw new InvalidOptionError(name, 'must hold protocol names of 1 to 255 bytes', protocol);
    }
  }
  return [...(value as string[])];
}

function versionOption(name: string, value: unknown, fallback: TlsVersion): TlsVersion {
  if (value === undefined) return fallback;
  if (!VERSIONS.includes(value as TlsVersion)) throw new InvalidOptionError(name, `must be one of ${VERSIONS.map((v) => `"${v}"`).join(', ')}`, value);
  return value as TlsVersion;
}
