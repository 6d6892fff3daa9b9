/**
 * The Switchboard error family: one base class, stable `SWB_ERR_*` codes, and
 * Go-style operation errors (`listen tcp 127.0.0.1:7000: address already in use (EADDRINUSE)`).
 * Every code is listed in docs/errors.md.
 */

/** Every stable error code Switchboard uses. */
export const ErrorCode = {
  /** A constructor or method was given an option outside its constraint. */
  INVALID_OPTION: 'SWB_ERR_INVALID_OPTION',
  /** The local address and port are already bound by another socket. */
  ADDRESS_IN_USE: 'SWB_ERR_ADDRESS_IN_USE',
  /** Binding was refused (a privileged port without the capability). */
  PERMISSION_DENIED: 'SWB_ERR_PERMISSION_DENIED',
  /** The address is not assigned to any interface of this host. */
  ADDRESS_NOT_AVAILABLE: 'SWB_ERR_ADDRESS_NOT_AVAILABLE',
  /** An IPv6 address was asked for on a host without a configured IPv6 stack. */
  IPV6_UNAVAILABLE: 'SWB_ERR_IPV6_UNAVAILABLE',
  /** A host name did not resolve to any address. */
  NAME_NOT_RESOLVED: 'SWB_ERR_NAME_NOT_RESOLVED',
  /** `reusePort` was asked for where the runtime or kernel lacks SO_REUSEPORT. */
  REUSE_PORT_UNSUPPORTED: 'SWB_ERR_REUSE_PORT_UNSUPPORTED',
  /** The Node.js running is older than the oldest Switchboard supports (thrown when it loads). */
  UNSUPPORTED_NODE: 'SWB_ERR_UNSUPPORTED_NODE',
  /** The server was closed (or is closing) and cannot do what was asked. */
  SERVER_CLOSED: 'SWB_ERR_SERVER_CLOSED',
  /** `listen()` was called on a server that is already listening. */
  ALREADY_LISTENING: 'SWB_ERR_ALREADY_LISTENING',
  /** The session is closed; the write or read cannot happen. */
  SESSION_CLOSED: 'SWB_ERR_SESSION_CLOSED',
  /** A user handler threw or rejected; the error is the `cause`. */
  HANDLER_FAILED: 'SWB_ERR_HANDLER_FAILED',
  /** The session saw no traffic for its idle timeout. */
  IDLE_TIMEOUT: 'SWB_ERR_IDLE_TIMEOUT',
  /** A socket operation failed; the system error is the `cause`. */
  SOCKET: 'SWB_ERR_SOCKET',
  /** The peer reset the connection. */
  CONNECTION_RESET: 'SWB_ERR_CONNECTION_RESET',
  /** A frame exceeded the codec's maximum length. */
  FRAME_TOO_LARGE: 'SWB_ERR_FRAME_TOO_LARGE',
  /** Input could not be decoded by the session's codec. */
  BAD_FRAME: 'SWB_ERR_BAD_FRAME',
  /** A peer did not read its output and the session's output cap was reached. */
  OUTPUT_OVERFLOW: 'SWB_ERR_OUTPUT_OVERFLOW',
  /** A deadline other than idle time passed (first byte, partial frame, lifetime). */
  DEADLINE_EXCEEDED: 'SWB_ERR_DEADLINE_EXCEEDED',
  /** A UDP reply was refused because it exceeds the amplification limit. */
  AMPLIFICATION_REFUSED: 'SWB_ERR_AMPLIFICATION_REFUSED',
  /** A datagram could not be sent; the system error is the `cause`. */
  SEND_FAILED: 'SWB_ERR_SEND_FAILED',
  /** The first bytes are not a PROXY protocol signature, or the stream ended before any byte. */
  PROXY_HEADER_MISSING: 'SWB_ERR_PROXY_HEADER_MISSING',
  /** A PROXY header of a version the parser was told not to accept. */
  PROXY_VERSION_REFUSED: 'SWB_ERR_PROXY_VERSION_REFUSED',
  /** A PROXY header that breaks the specification (syntax, field, address, length or TLV). */
  PROXY_BAD_HEADER: 'SWB_ERR_PROXY_BAD_HEADER',
  /** A PROXY header longer than the maximum (v1: no CRLF in 107 bytes). */
  PROXY_HEADER_TOO_LARGE: 'SWB_ERR_PROXY_HEADER_TOO_LARGE',
  /** A PROXY v2 header whose CRC32C TLV does not match its bytes. */
  PROXY_CHECKSUM_MISMATCH: 'SWB_ERR_PROXY_CHECKSUM_MISMATCH',
  /** The stream or datagram ended inside a PROXY header. */
  PROXY_TRUNCATED: 'SWB_ERR_PROXY_TRUNCATED',
  /** A trusted source sent no complete PROXY header within `proxyProtocol.timeout`. */
  PROXY_TIMEOUT: 'SWB_ERR_PROXY_TIMEOUT',
  /** A TLS key, certificate or CA could not be loaded, or a key does not match its certificate. */
  TLS_CREDENTIALS: 'SWB_ERR_TLS_CREDENTIALS',
  /** Replacing the TLS material failed; the material in use is kept. The failure is the `cause`. */
  TLS_RELOAD_FAILED: 'SWB_ERR_TLS_RELOAD_FAILED',
  /** The TLS handshake did not complete within its deadline. */
  TLS_HANDSHAKE_TIMEOUT: 'SWB_ERR_TLS_HANDSHAKE_TIMEOUT',
  /** The peer's first bytes were not TLS (plaintext to a TLS port, garbage). */
  TLS_NOT_TLS: 'SWB_ERR_TLS_NOT_TLS',
  /** The peer offered no TLS version the server accepts. */
  TLS_PROTOCOL_VERSION: 'SWB_ERR_TLS_PROTOCOL_VERSION',
  /** A required client certificate was missing or failed verification. */
  TLS_CLIENT_CERTIFICATE: 'SWB_ERR_TLS_CLIENT_CERTIFICATE',
  /** The client offered ALPN protocols and none is served. */
  TLS_NO_APPLICATION_PROTOCOL: 'SWB_ERR_TLS_NO_APPLICATION_PROTOCOL',
  /** The peer closed or reset the connection before the handshake completed. */
  TLS_PEER_CLOSED: 'SWB_ERR_TLS_PEER_CLOSED',
  /** The handshake was cancelled by its `AbortSignal`. */
  TLS_HANDSHAKE_ABORTED: 'SWB_ERR_TLS_HANDSHAKE_ABORTED',
  /** The handshake failed for a reason not named above; the OpenSSL error is the `cause`. */
  TLS_HANDSHAKE_FAILED: 'SWB_ERR_TLS_HANDSHAKE_FAILED',
  /** Plaintext bytes followed a STARTTLS command before the handshake (CVE-2011-0411 class). */
  TLS_PLAINTEXT_AFTER_STARTTLS: 'SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS',
  /** STARTTLS was asked for where it cannot run (already TLS, closed, or the plaintext reader still attached). */
  TLS_INVALID_STATE: 'SWB_ERR_TLS_INVALID_STATE',
  /** A `warning`: TLS handshakes failed since the last such warning, counted by reason. */
  TLS_HANDSHAKE_FAILURES: 'SWB_ERR_TLS_HANDSHAKE_FAILURES',
  /** A `warning`: a certificate in use expires within `tls.expiryWarning`, or has expired. */
  TLS_CERTIFICATE_EXPIRING: 'SWB_ERR_TLS_CERTIFICATE_EXPIRING',
  /** `LISTEN_FDS`, `LISTEN_PID` or `LISTEN_FDNAMES` is malformed (not a count, names not matching the count). */
  ACTIVATION_BAD_ENVIRONMENT: 'SWB_ERR_ACTIVATION_BAD_ENVIRONMENT',
  /** Sockets from the service manager were asked for and none were passed to this process. */
  ACTIVATION_NO_SOCKETS: 'SWB_ERR_ACTIVATION_NO_SOCKETS',
  /** No passed socket carries the name asked for. */
  ACTIVATION_NAME_NOT_FOUND: 'SWB_ERR_ACTIVATION_NAME_NOT_FOUND',
  /** A passed fd is not of the kind asked for (a datagram fd for TCP, a connected socket for a listener, not a socket). */
  ACTIVATION_FD_TYPE: 'SWB_ERR_ACTIVATION_FD_TYPE',
  /** A passed fd was already adopted by another server in this process. */
  ACTIVATION_FD_TAKEN: 'SWB_ERR_ACTIVATION_FD_TAKEN',
  /** inetd mode found no connected socket (on fd 3 with `LISTEN_FDS=1`, or on fd 0). */
  ACTIVATION_NO_CONNECTION: 'SWB_ERR_ACTIVATION_NO_CONNECTION',
  /** A readiness or watchdog notification could not be handed to the service manager (the warning's code). */
  NOTIFY_FAILED: 'SWB_ERR_NOTIFY_FAILED',
  /** A client's connection was refused: nothing listens at the address (ECONNREFUSED). */
  CONNECTION_REFUSED: 'SWB_ERR_CONNECTION_REFUSED',
  /** A client's connection (lookup, connect, TLS handshake) did not complete within its `timeout`. */
  CONNECT_TIMEOUT: 'SWB_ERR_CONNECT_TIMEOUT',
  /** No route to the host, or the network is unreachable (EHOSTUNREACH, ENETUNREACH). */
  HOST_UNREACHABLE: 'SWB_ERR_HOST_UNREACHABLE',
  /** A client's connection attempt was cancelled by its `AbortSignal`. */
  CONNECT_ABORTED: 'SWB_ERR_CONNECT_ABORTED',
  /** The server's TLS certificate did not verify against the client's CA, or does not name the host. */
  TLS_SERVER_CERTIFICATE: 'SWB_ERR_TLS_SERVER_CERTIFICATE',
  /** A UDP request got no reply from the server after every retry. */
  REQUEST_TIMEOUT: 'SWB_ERR_REQUEST_TIMEOUT',
  /** A worker slot exited too often before its minimum uptime; it is not respawned again. */
  WORKER_CRASH_LOOP: 'SWB_ERR_WORKER_CRASH_LOOP',
  /** A worker failed to start serving (its module did not load, a listener did not bind). */
  WORKER_START_FAILED: 'SWB_ERR_WORKER_START_FAILED',
  /** Workers were asked to serve sockets a service manager passed (`--listen-fds`, `--inetd`, `systemd:NAME`), which they cannot yet. */
  WORKERS_ACTIVATION: 'SWB_ERR_WORKERS_ACTIVATION',
  /** A zero-downtime upgrade did not complete: the new process failed or was not ready in time; the old one keeps serving. */
  UPGRADE_FAILED: 'SWB_ERR_UPGRADE_FAILED',
} as const;

/** One of the stable `SWB_ERR_*` codes. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Base class of every error Switchboard raises; `code` is stable across releases.
 * @example
 * if (err instanceof SwitchboardError && err.code === 'SWB_ERR_ADDRESS_IN_USE') retry();
 */
export class SwitchboardError extends Error {
  declare readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Marks a constraint that is the whole message (see {@link unknownOptionError}). */
const WHOLE_MESSAGE = Symbol('whole message');

/**
 * An invalid option value, or an option name that is not one, thrown synchronously where the
 * option is given.
 */
export class InvalidOptionError extends SwitchboardError {
  declare readonly option: string;

  constructor(option: string, constraint: string, value: unknown) {
    super(ErrorCode.INVALID_OPTION, value === WHOLE_MESSAGE ? constraint : `\`${option}\` ${constraint}, got ${describeValue(value)}`);
    this.option = option;
  }
}

/**
 * The error for an option name that is not one: `unknown option "idleTimeOut" (did you mean
 * "idleTimeout"?)`; `option` is the name as given.
 * @param nearest the valid name it most likely meant, if any is close
 */
export function unknownOptionError(option: string, nearest: string | undefined): InvalidOptionError {
  const hint = nearest === undefined ? '' : ` (did you mean ${JSON.stringify(nearest)}?)`;
  return new InvalidOptionError(option, `unknown option ${JSON.stringify(option)}${hint}`, WHOLE_MESSAGE);
}

/** The transports Switchboard serves. */
export type Transport = 'tcp' | 'udp';

/** The context of a failed network operation, in the manner of Go's `net.OpError`. */
export interface OpContext {
  /** The operation: `listen`, `lookup`, `accept`, `read`, `write`, `send`, `close`. */
  readonly op: string;
  readonly transport: Transport;
  /** The local or remote address concerned, unbracketed. */
  readonly address?: string;
  readonly port?: number;
}

/**
 * A failed network operation: `listen tcp [::1]:7000: address already in use (EADDRINUSE)`.
 * The system error, when there is one, is the `cause`.
 */
export class OpError extends SwitchboardError {
  declare readonly op: string;
  declare readonly transport: Transport;
  declare readonly address: string | undefined;
  declare readonly port: number | undefined;
  /** The system error code (`EADDRINUSE`, ...) when the failure came from the system. */
  declare readonly syscallCode: string | undefined;

  constructor(context: OpContext, code: ErrorCode, reason: string, cause?: unknown) {
    const syscallCode = systemCodeOf(cause);
    const suffix = syscallCode ? ` (${syscallCode})` : '';
    super(code, `${formatOpPrefix(context)}: ${reason}${suffix}`, cause === undefined ? undefined : { cause });
    this.op = context.op;
    this.transport = context.transport;
    this.address = context.address;
    this.port = context.port;
    this.syscallCode = syscallCode;
  }
}

/**
 * Binding one or more addresses failed; every bound socket was closed again.
 * `code` is the first failure's code; `failures` lists every address's error.
 */
export class ListenError extends SwitchboardError {
  declare readonly failures: readonly OpError[];

  constructor(failures: readonly OpError[]) {
    const first = failures[0];
    if (first === undefined) throw new TypeError('ListenError needs at least one failure');
    super(first.code, failures.map((failure) => failure.message).join('; '));
    this.failures = failures;
  }
}

/** `op transport host:port`, with IPv6 hosts in brackets. */
export function formatOpPrefix(context: OpContext): string {
  const where = context.address === undefined ? '' : ` ${formatHostPort(context.address, context.port)}`;
  return `${context.op} ${context.transport}${where}`;
}

/**
 * An address for display: `127.0.0.1:7000`, `[::1]:7000` (IPv6 in brackets), or the bare host
 * when there is no port. Exported as `formatAddress`.
 * @example
 * formatAddress('::1', 7000); // '[::1]:7000'
 * server.addresses.map((bound) => formatAddress(bound.address, bound.port));
 */
export function formatHostPort(host: string, port?: number): string {
  const shown = host.includes(':') ? `[${host}]` : host;
  return port === undefined ? shown : `${shown}:${port}`;
}

const systemReasons: Record<string, readonly [ErrorCode, string]> = {
  EADDRINUSE: [ErrorCode.ADDRESS_IN_USE, 'address already in use'],
  EACCES: [ErrorCode.PERMISSION_DENIED, 'permission denied'],
  EPERM: [ErrorCode.PERMISSION_DENIED, 'operation not permitted'],
  EADDRNOTAVAIL: [ErrorCode.ADDRESS_NOT_AVAILABLE, 'address not available on this host'],
  EAFNOSUPPORT: [ErrorCode.IPV6_UNAVAILABLE, 'address family not supported on this host'],
  ENOTFOUND: [ErrorCode.NAME_NOT_RESOLVED, 'name not resolvable'],
  EAI_NONAME: [ErrorCode.NAME_NOT_RESOLVED, 'name not resolvable'],
  EAI_FAIL: [ErrorCode.NAME_NOT_RESOLVED, 'name not resolvable'],
  EAI_AGAIN: [ErrorCode.NAME_NOT_RESOLVED, 'name resolution failed temporarily'],
  ECONNRESET: [ErrorCode.CONNECTION_RESET, 'connection reset by peer'],
  EPIPE: [ErrorCode.CONNECTION_RESET, 'broken pipe'],
  EMSGSIZE: [ErrorCode.SEND_FAILED, 'message too long'],
  ECONNREFUSED: [ErrorCode.SEND_FAILED, 'connection refused'],
  EHOSTUNREACH: [ErrorCode.SEND_FAILED, 'host unreachable'],
  ENETUNREACH: [ErrorCode.SEND_FAILED, 'network unreachable'],
};

/**
 * Wraps a system error from `op` in an {@link OpError} with a stable code and a readable reason.
 * @param fallback the code to use when the system code is not one Switchboard names
 */
export function opErrorFromSystem(context: OpContext, cause: unknown, fallback: ErrorCode = ErrorCode.SOCKET): OpError {
  const syscallCode = systemCodeOf(cause);
  const known = syscallCode === undefined ? undefined : systemReasons[syscallCode];
  if (known) return new OpError(context, known[0], known[1], cause);
  const reason = cause instanceof Error ? stripSystemPrefix(cause.message) : String(cause);
  return new OpError(context, fallback, reason, cause);
}

function systemCodeOf(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code) ? code : undefined;
}

function stripSystemPrefix(message: string): string {
  // "listen EADDRINUSE: address already in use 127.0.0.1:7000" -> keep the human part only.
  const match = /^\w+ E[A-Z0-9_]+: (.*?)(?: \S+:\d+)?$/.exec(message);
  return match?.[1] ?? message;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}
