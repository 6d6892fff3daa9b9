/**
 * The options of `connectTcp`: where to connect, how long to try, TLS, the PROXY header to send
 * first, and the session limits a client shares with a server's sessions.
 */
import { isIP } from 'node:net';
import { InvalidOptionError } from '../core/errors.ts';
import { booleanOption, durationOption, functionOption, integerOption, optionNames, optionsObject, signalOption } from '../core/options.ts';
import type { LookupFunction } from '../net/addresses.ts';
import { encodeProxyHeader } from '../proxy/proxy-encoder.ts';
import type { ProxyHeaderInit } from '../proxy/proxy-header.ts';
import { DEFAULT_MAX_BUFFERED_OUTPUT } from '../tcp/limit-options.ts';
import type { Pem, TlsVersion } from '../tls/tls-options.ts';

/** TLS for a client connection (node:tls underneath); `tls: true` takes every default. */
export interface TcpClientTlsOptions {
  /** The name sent as SNI and checked against the certificate. @default the `host` option, unless it is an IP address (then no SNI) */
  servername?: string;
  /** ALPN protocols offered, in order of preference; the chosen one is `session.tls.alpn`. */
  ALPNProtocols?: readonly string[];
  /** CAs the server's certificate must chain to. @default the system's (Node's bundled) CAs */
  ca?: Pem | readonly Pem[];
  /** A client certificate and its key, for servers that ask for one. */
  cert?: Pem;
  key?: Pem;
  /** Refuse a server certificate that does not verify (`SWB_ERR_TLS_SERVER_CERTIFICATE`). @default true */
  rejectUnauthorized?: boolean;
  /** @default 'TLSv1.2' */
  minVersion?: TlsVersion;
  /** @default 'TLSv1.3' */
  maxVersion?: TlsVersion;
}

/** Options of `connectTcp`. */
export interface TcpClientOptions {
  /** A host name (every address it resolves to is tried, Happy Eyeballs) or an IP address. @default 'localhost' */
  host?: string;
  /** The server's port, 1-65535. */
  port: number;
  /** The whole connection -- lookup, connect, TLS handshake -- must complete within this many ms; 0 waits for the system's own timeout. @default 30000 */
  timeout?: number;
  /** Happy Eyeballs (RFC 8305): how long one address is tried before the next is started too, in ms (at least 10). @default 250 */
  attemptDelay?: number;
  /** Resolves `host` to every address. @default dns.lookup with `all: true`, `order: 'verbatim'`; `localhost` adds the loopback address of the other family */
  lookup?: LookupFunction;
  /** The local address to connect from. */
  localAddress?: string;
  /** TLS from the first byte (after the PROXY header, when there is one). */
  tls?: boolean | TcpClientTlsOptions;
  /** A PROXY protocol header (v1 or v2) sent before anything else, for testing servers behind a proxy; checked when the options are. */
  proxyHeader?: ProxyHeaderInit;
  /** Close the session after this many ms without traffic; 0 disables. @default 0 */
  idleTimeout?: number;
  /** Queued output above which a further write closes the session (`SWB_ERR_OUTPUT_OVERFLOW`); 0 disables. @default 1048576 */
  maxBufferedOutput?: number;
  /** TCP_NODELAY. @default false */
  noDelay?: boolean;
  /** SO_KEEPALIVE. @default false */
  keepAlive?: boolean;
  /** Aborting it before the session opens abandons the attempt (`SWB_ERR_CONNECT_ABORTED`); after, it destroys the session. */
  signal?: AbortSignal;
}

/** The default connection timeout: 30 s. */
export const DEFAULT_CONNECT_TIMEOUT = 30_000;
/** RFC 8305's recommended connection attempt delay, which is Node's default too. */
const DEFAULT_ATTEMPT_DELAY = 250;

/** TLS settings after checking. @internal */
export interface NormalizedClientTls {
  readonly servername: string | undefined;
  readonly ALPNProtocols: string[] | undefined;
  readonly ca: Pem | Pem[] | undefined;
  readonly cert: Pem | undefined;
  readonly key: Pem | undefined;
  readonly rejectUnauthorized: boolean;
  readonly minVersion: TlsVersion;
  readonly maxVersion: TlsVersion;
}

/** Options after checking, with defaults applied. @internal */
export interface NormalizedTcpClientOptions {
  readonly host: string;
  readonly port: number;
  readonly timeout: number;
  readonly attemptDelay: number;
  readonly lookup: LookupFunction | undefined;
  readonly localAddress: string | undefined;
  readonly tls: NormalizedClientTls | undefined;
  readonly proxyHeader: Buffer | undefined;
  readonly idleTimeout: number;
  readonly maxBufferedOutput: number;
  readonly noDelay: boolean;
  readonly keepAlive: boolean;
  readonly signal: AbortSignal | undefined;
}

const CLIENT_OPTION_NAMES = optionNames<TcpClientOptions>({
  host: true, port: true, timeout: true, attemptDelay: true, lookup: true, localAddress: true, tls: true,
  proxyHeader: true, idleTimeout: true, maxBufferedOutput: true, noDelay: true, keepAlive: true, signal: true,
});
const TLS_OPTION_NAMES = optionNames<TcpClientTlsOptions>(
  { servername: true, ALPNProtocols: true, ca: true, cert: true, key: true, rejectUnauthorized: true, minVersion: true, maxVersion: true },
  'tls',
);
const TLS_VERSIONS: readonly TlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** A host name or address: a non-empty string. */
export function hostOption(value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError('host', 'must be a non-empty host name or IP address', value);
  return value;
}

/** A server's port: an integer from 1 to 65535 (a client cannot connect to port 0). */
export function serverPortOption(value: unknown): number {
  if (value === undefined) throw new InvalidOptionError('port', 'is required: the server port, an integer from 1 to 65535', value);
  return integerOption('port', value, 0, 1, 65535);
}

/**
 * Checks `connectTcp` options and applies defaults; the PROXY header is encoded here, so a bad
 * one throws before anything connects.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the option and its constraint
 */
export function normalizeTcpClientOptions(input: TcpClientOptions): NormalizedTcpClientOptions {
  if (input === undefined) throw new InvalidOptionError('options', 'are required: at least `port`', input);
  const options = optionsObject('options', input, CLIENT_OPTION_NAMES);
  const host = hostOption(options.host, 'localhost');
  const attemptDelay = durationOption('attemptDelay', options.attemptDelay, DEFAULT_ATTEMPT_DELAY);
  if (attemptDelay < 10) throw new InvalidOptionError('attemptDelay', 'must be at least 10 ms (Node refuses less)', attemptDelay);
  const localAddress = options.localAddress;
  if (localAddress !== undefined && isIP(localAddress) === 0) throw new InvalidOptionError('localAddress', 'must be an IP address', localAddress);
  return {
    host,
    port: serverPortOption(options.port),
    timeout: durationOption('timeout', options.timeout, DEFAULT_CONNECT_TIMEOUT),
    attemptDelay,
    lookup: functionOption('lookup', options.lookup),
    localAddress,
    tls: normalizeClientTls(options.tls, host),
    proxyHeader: options.proxyHeader === undefined ? undefined : encodeProxyHeader(options.proxyHeader),
    idleTimeout: durationOption('idleTimeout', options.idleTimeout, 0),
    maxBufferedOutput: integerOption('maxBufferedOutput', options.maxBufferedOutput, DEFAULT_MAX_BUFFERED_OUTPUT, 0),
    noDelay: booleanOption('noDelay', options.noDelay, false),
    keepAlive: booleanOption('keepAlive', options.keepAlive, false),
    signal: signalOption(options.signal),
  };
}

function normalizeClientTls(value: boolean | TcpClientTlsOptions | undefined, host: string): NormalizedClientTls | undefined {
  if (value === undefined || value === false) return undefined;
  const tls = optionsObject('tls', value === true ? {} : value, TLS_OPTION_NAMES);
  const servername = tls.servername ?? (isIP(host) === 0 ? host : undefined);
  if (servername !== undefined && (typeof servername !== 'string' || servername === '' || isIP(servername) !== 0)) {
    throw new InvalidOptionError('tls.servername', 'must be a host name (SNI carries no IP address)', servername);
  }
  const alpn = tls.ALPNProtocols;
  if (alpn !== undefined && (!Array.isArray(alpn) || alpn.length === 0 || !alpn.every((name) => typeof name === 'string' && name.length > 0 && name.length < 256))) {
    throw new InvalidOptionError('tls.ALPNProtocols', 'must be a non-empty array of protocol names (1 to 255 bytes each)', alpn);
  }
  const version = (name: 'minVersion' | 'maxVersion', fallback: TlsVersion): TlsVersion => {
    const given = tls[name];
    if (given === undefined) return fallback;
    if (!TLS_VERSIONS.includes(given)) throw new InvalidOptionError(`tls.${name}`, `must be one of ${TLS_VERSIONS.join(', ')}`, given);
    return given;
  };
  return {
    servername,
    ALPNProtocols: alpn === undefined ? undefined : [...alpn],
    ca: Array.isArray(tls.ca) ? [...(tls.ca as readonly Pem[])] : (tls.ca as Pem | undefined),
    cert: tls.cert,
    key: tls.key,
    rejectUnauthorized: booleanOption('tls.rejectUnauthorized', tls.rejectUnauthorized, true),
    minVersion: version('minVersion', 'TLSv1.2'),
    maxVersion: version('maxVersion', 'TLSv1.3'),
  };
}
