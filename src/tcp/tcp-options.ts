/**
 * The options of a TCP server, checked once at construction (docs/api.md lists them).
 */
import { normalizeHostSpec, type HostSpec, type LookupFunction } from '../net/addresses.ts';
import { LIMIT_OPTION_KEYS, normalizeLimitOptions, type LimitOptions, type NormalizedLimitOptions } from './limit-options.ts';
import { InvalidOptionError } from '../core/errors.ts';
import {
  booleanOption,
  durationOption,
  functionOption,
  integerOption,
  optionNames,
  optionsObject,
  portOption,
  reusePortOption,
  signalOption,
  type OptionNames,
} from '../core/options.ts';
import type { TlsOptions } from '../tls/tls-options.ts';
import { normalizeFdsOption, normalizeSystemdOption, type NormalizedSystemdOption, type SystemdListenOption } from '../net/passed-sockets.ts';
import { normalizeProxyProtocol, type NormalizedProxyProtocol, type ProxyProtocolOptions } from '../proxy/proxy-options.ts';

/** Options for a TCP server; the limits it applies to peers are listed in docs/limits.md. */
export interface TcpServerOptions extends LimitOptions {
  /** Where to listen (docs/addresses.md). @default IPv4 any (`0.0.0.0`) */
  host?: HostSpec;
  /** The port, 0 for a free one shared by every address of the group. @default 0 */
  port?: number;
  /** Pending-connection queue length; the kernel clamps it to `net.core.somaxconn`. @default 511 */
  backlog?: number;
  /** Never share the address with another socket, nor with cluster workers. @default true (false when `reusePort`) */
  exclusive?: boolean;
  /** SO_REUSEPORT: let several processes bind the same address for scaling (Node >= 22.12). @default false */
  reusePort?: boolean;
  /** For IPv6 sockets: refuse IPv4 peers. @default false for `::` (dual-stack); `'*'` always binds IPv6-only */
  ipv6Only?: boolean;
  /** SO_KEEPALIVE on every session. @default false */
  keepAlive?: boolean;
  /** Idle time before the first keep-alive probe, in ms. @default 0 (the system's) */
  keepAliveInitialDelay?: number;
  /** TCP_NODELAY (disable Nagle) on every session. @default false */
  noDelay?: boolean;
  /** Close a session after this many ms without traffic (the `timeout` handler may decide otherwise); 0 disables. @default 300000 */
  idleTimeout?: number;
  /** Aborting it closes the server, like `close()`. */
  signal?: AbortSignal;
  /** Resolves host names to every address. @default dns.lookup with `all: true`, `order: 'verbatim'` */
  lookup?: LookupFunction;
  /**
   * TLS on every connection (`mode: 'implicit'`, the default: the handshake runs before the
   * session opens) or on `session.startTls()` (`mode: 'starttls'`); docs/tls.md. Checked, and
   * every context built, at construction.
   */
  tls?: TlsOptions;
  /**
   * Serve the listening sockets the service manager passed (socket activation, docs/systemd.md)
   * instead of binding: `true` for every stream fd, an fd name or names for those fds. Not
   * with `host` or `port`; `backlog`, `exclusive`, `reusePort` and `ipv6Only` are then the
   * manager's. Closing the server closes the adopted sockets.
   * @default none (bind `host` and `port`)
   */
  systemd?: SystemdListenOption;
  /**
   * Serve these listening (or bound) stream sockets, already open in this process, by fd number,
   * instead of binding: an upgrade's predecessor or a supervisor passed them, or you made them
   * (`net.BoundSocket#fd()`). Not with `host`, `port` or `systemd`. Closing the server closes
   * this process's copy of each; another process holding the same socket keeps it.
   * @default none (bind `host` and `port`)
   */
  fds?: readonly number[];
  /**
   * The PROXY protocol (v1 and v2) from the balancers in `from`: their connections must begin with
   * a header, and the session reports the client it names; docs/proxy-protocol.md. Runs before TLS.
   */
  proxyProtocol?: ProxyProtocolOptions;
}

/** Options after checking, with defaults applied. @internal */
export interface NormalizedTcpServerOptions {
  readonly host: HostSpec;
  readonly port: number;
  readonly backlog: number;
  readonly exclusive: boolean;
  readonly reusePort: boolean;
  readonly ipv6Only: boolean | undefined;
  readonly keepAlive: boolean;
  readonly keepAliveInitialDelay: number;
  readonly noDelay: boolean;
  readonly idleTimeout: number;
  readonly signal: AbortSignal | undefined;
  readonly lookup: LookupFunction | undefined;
  readonly limits: NormalizedLimitOptions;
  /** Checked where the server builds its contexts (src/tls/server-tls.ts). */
  readonly tls: TlsOptions | undefined;
  readonly systemd: NormalizedSystemdOption | undefined;
  readonly fds: readonly number[] | undefined;
  readonly proxyProtocol: NormalizedProxyProtocol | undefined;
}

/** Every key of {@link TcpServerOptions}; any other is refused. @internal */
export const TCP_SERVER_OPTION_NAMES: OptionNames = optionNames<TcpServerOptions>({
  host: true,
  port: true,
  backlog: true,
  exclusive: true,
  reusePort: true,
  ipv6Only: true,
  keepAlive: true,
  keepAliveInitialDelay: true,
  noDelay: true,
  idleTimeout: true,
  signal: true,
  lookup: true,
  tls: true,
  systemd: true,
  fds: true,
  proxyProtocol: true,
  ...LIMIT_OPTION_KEYS,
});

/** The default idle timeout: five minutes. */
export const DEFAULT_IDLE_TIMEOUT = 300_000;

/**
 * Checks TCP server options and applies defaults.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the option and its constraint
 * @throws {SwitchboardError} `SWB_ERR_REUSE_PORT_UNSUPPORTED` when `reusePort` is asked for where it is missing
 */
export function normalizeTcpServerOptions(input: TcpServerOptions | undefined): NormalizedTcpServerOptions {
  if (typeof input === 'object' && input !== null && 'reuseAddress' in input) {
    // Not a TCP option: libuv sets SO_REUSEADDR on every TCP listener, so it cannot be turned off.
    throw new InvalidOptionError('reuseAddress', 'is not a TCP option: SO_REUSEADDR is always on for TCP listeners under Node (see docs/addresses.md); it is a UDP option', (input as { reuseAddress?: unknown }).reuseAddress);
  }
  const options = optionsObject('options', input, TCP_SERVER_OPTION_NAMES);
  normalizeHostSpec(options.host);
  const reusePort = reusePortOption(options.reusePort);
  const exclusive = booleanOption('exclusive', options.exclusive, !reusePort);
  if (reusePort && exclusive) {
    throw new InvalidOptionError('exclusive', 'must not be true together with `reusePort`, which shares the address', true);
  }
  return {
    host: options.host,
    port: portOption(options.port),
    backlog: integerOption('backlog', options.backlog, 511, 0),
    exclusive,
    reusePort,
    ipv6Only: booleanOption('ipv6Only', options.ipv6Only, undefined),
    keepAlive: booleanOption('keepAlive', options.keepAlive, false),
    keepAliveInitialDelay: durationOption('keepAliveInitialDelay', options.keepAliveInitialDelay, 0),
    noDelay: booleanOption('noDelay', options.noDelay, false),
    idleTimeout: durationOption('idleTimeout', options.idleTimeout, DEFAULT_IDLE_TIMEOUT),
    signal: signalOption(options.signal),
    lookup: functionOption('lookup', options.lookup),
    limits: normalizeLimitOptions(options),
    tls: options.tls,
    systemd: normalizeSystemdOption(options.systemd, options.host !== undefined || options.port !== undefined),
    fds: normalizeFdsOption(options.fds, options.host !== undefined ? 'host' : options.port !== undefined ? 'port' : options.systemd !== undefined ? 'systemd' : undefined),
    proxyProtocol: normalizeProxyProtocol(options.proxyProtocol),
  };
}
