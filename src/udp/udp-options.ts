/**
 * The options of a UDP server, checked once at construction (docs/udp.md lists them with
 * their defaults and why).
 */
import { isWildcardHost, normalizeHostSpec, type HostSpec, type LookupFunction } from '../net/addresses.ts';
import { InvalidOptionError } from '../core/errors.ts';
import { normalizeFdsOption, normalizeSystemdOption, type NormalizedSystemdOption, type SystemdListenOption } from '../net/passed-sockets.ts';
import {
  booleanOption,
  durationOption,
  functionOption,
  integerOption,
  numberOption,
  optionNames,
  optionsObject,
  portOption,
  rejectUnknownKeys,
  reusePortOption,
  signalOption,
} from '../core/options.ts';
import { normalizeUdpProxyProtocol, type NormalizedProxyProtocol, type UdpProxyProtocolOptions } from '../proxy/proxy-options.ts';

/** Per-source rate limits: one token bucket per source address (an IPv6 source counts per /64). */
export interface UdpRateLimit {
  /** Datagrams per second one source may send; 0 for no limit. @default 1000 */
  datagrams?: number;
  /** Bytes per second one source may send; 0 for no limit. Must be >= `maxDatagramSize`. @default 1048576 */
  bytes?: number;
  /** Sources tracked at once; beyond it, unknown sources share one bucket. @default 10000 */
  maxSources?: number;
}

/** Options for a UDP server. */
export interface UdpServerOptions {
  /** Where to listen (docs/addresses.md). @default IPv4 any (`0.0.0.0`) */
  host?: HostSpec;
  /** The port, 0 for a free one shared by every socket of the group. @default 0 */
  port?: number;
  /**
   * Replace each wildcard (`'*'`, `'0.0.0.0'`, `'::'`, no host) by one socket per local interface
   * address, so every reply leaves from the address its request was sent to. Addresses are read
   * once, at `listen()`; later changes are not followed (docs/udp.md).
   * @default true when `host` includes `'*'`, else false
   */
  perInterface?: boolean;
  /**
   * SO_REUSEADDR: another socket that also sets it may bind the same address and port, and the
   * kernel then hands each unicast datagram to one of them (on Linux, the most recent). Meant for
   * multicast and broadcast receivers; it lets another process take your traffic.
   * @default false
   */
  reuseAddress?: boolean;
  /** SO_REUSEPORT: several sockets (processes) share the address and the kernel spreads datagrams by source (Node >= 22.12). @default false */
  reusePort?: boolean;
  /** For IPv6 wildcard sockets: refuse IPv4 peers. @default false for `::` (dual-stack); `'*'` always binds IPv6-only */
  ipv6Only?: boolean;
  /** SO_RCVBUF in bytes (the kernel may double or clamp it). @default the system's */
  recvBufferSize?: number;
  /** SO_SNDBUF in bytes. @default the system's */
  sendBufferSize?: number;
  /** Larger datagrams are dropped unread (`too-large`). At most 65535. @default 8192 */
  maxDatagramSize?: number;
  /**
   * All replies to one request together may be at most this many times the request's size, both
   * measured on the wire: payload plus IP and UDP headers (28 bytes for IPv4, 48 for IPv6), so an
   * empty IPv4 request may draw 56 payload bytes. `Infinity` turns the guard off. 3 is the limit
   * QUIC sets for a peer whose address is not validated (RFC 9000 section 8.1).
   * @default 3
   */
  maxAmplification?: number;
  /**
   * Server-wide: reply bytes per second on the wire (headers included), all sources and sockets
   * together, so sources forged across many addresses cannot make the server a reflector; replies
   * over it are refused (`reply-rate-limit`). 0 for no limit.
   * @default 4194304 (4 MiB/s: above what one source can draw under the default per-source limits)
   */
  replyRateLimit?: number;
  /**
   * Event style: datagrams whose handler promise is still pending; beyond it new datagrams are
   * dropped unread (`max-in-flight`). 0 for no limit.
   * @default 1024
   */
  maxInFlight?: number;
  /** Per-source rate limits, or `false` for none. @default `{ datagrams: 1000, bytes: 1048576, maxSources: 10000 }` */
  rateLimit?: UdpRateLimit | false;
  /** Async style only: datagrams waiting for the `for await` loop; beyond it they are dropped (`queue-full`). @default 1024 */
  maxQueuedDatagrams?: number;
  /** The `drop` summary event comes at most once per this many ms. @default 1000 */
  dropReportInterval?: number;
  /** Aborting it closes the server, like `close()`. */
  signal?: AbortSignal;
  /** Resolves host names to every address. @default dns.lookup with `all: true`, `order: 'verbatim'` */
  lookup?: LookupFunction;
  /**
   * Serve the datagram sockets the service manager passed (socket activation, docs/systemd.md)
   * instead of binding: `true` for every datagram fd, an fd name or names for those fds. Not
   * with `host`, `port` or `perInterface`; `reuseAddress`, `reusePort` and `ipv6Only` are then
   * the manager's. Closing the server closes the adopted sockets.
   * @default none (bind `host` and `port`)
   */
  systemd?: SystemdListenOption;
  /**
   * Serve these bound datagram sockets, already open in this process, by fd number, instead of
   * binding: an upgrade's predecessor or a supervisor passed them. Not with `host`, `port`,
   * `perInterface` or `systemd`. Closing the server closes this process's copy of each.
   * @default none (bind `host` and `port`)
   */
  fds?: readonly number[];
  /**
   * The PROXY protocol v2 from the balancers in `from`: each of their datagrams must begin with a
   * header, and the datagram reports the client it names; replies still go to the balancer
   * (docs/proxy-protocol.md).
   */
  proxyProtocol?: UdpProxyProtocolOptions;
}

/** The defaults of the UDP limits (docs/udp.md says why each is what it is). */
export const UDP_DEFAULTS = Object.freeze({
  maxDatagramSize: 8192,
  maxAmplification: 3,
  replyRateLimit: 4 * 1024 * 1024,
  maxInFlight: 1024,
  rateDatagrams: 1000,
  rateBytes: 1_048_576,
  maxSources: 10_000,
  maxQueuedDatagrams: 1024,
  dropReportInterval: 1000,
});

/** Options after checking, with defaults applied. @internal */
export interface NormalizedUdpServerOptions {
  readonly host: HostSpec;
  readonly port: number;
  readonly perInterface: boolean;
  readonly reuseAddress: boolean;
  readonly reusePort: boolean;
  readonly ipv6Only: boolean | undefined;
  readonly recvBufferSize: number | undefined;
  readonly sendBufferSize: number | undefined;
  readonly maxDatagramSize: number;
  readonly maxAmplification: number;
  /** Bytes per second on the wire; 0 for no limit. */
  readonly replyRateLimit: number;
  /** 0 for no limit. */
  readonly maxInFlight: number;
  /** Undefined when no rate limit applies. 0 in one dimension means unlimited there. */
  readonly rateLimit: { readonly datagrams: number; readonly bytes: number; readonly maxSources: number } | undefined;
  readonly maxQueuedDatagrams: number;
  readonly dropReportInterval: number;
  readonly signal: AbortSignal | undefined;
  readonly lookup: LookupFunction | undefined;
  readonly systemd: NormalizedSystemdOption | undefined;
  readonly fds: readonly number[] | undefined;
  readonly proxyProtocol: NormalizedProxyProtocol | undefined;
}

const MAX_UDP_PAYLOAD = 65535;

const UDP_SERVER_OPTION_NAMES = optionNames<UdpServerOptions>({
  host: true,
  port: true,
  perInterface: true,
  reuseAddress: true,
  reusePort: true,
  ipv6Only: true,
  recvBufferSize: true,
  sendBufferSize: true,
  maxDatagramSize: true,
  maxAmplification: true,
  replyRateLimit: true,
  maxInFlight: true,
  rateLimit: true,
  maxQueuedDatagrams: true,
  dropReportInterval: true,
  signal: true,
  lookup: true,
  systemd: true,
  fds: true,
  proxyProtocol: true,
});
const RATE_LIMIT_NAMES = optionNames<UdpRateLimit>({ datagrams: true, bytes: true, maxSources: true }, 'rateLimit');

/**
 * Checks UDP server options and applies defaults.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the option and its constraint
 * @throws {SwitchboardError} `SWB_ERR_REUSE_PORT_UNSUPPORTED` when `reusePort` is asked for where it is missing
 */
export function normalizeUdpServerOptions(input: UdpServerOptions | undefined): NormalizedUdpServerOptions {
  const options = optionsObject('options', input);
  const removed = (options as { amplificationAllowance?: unknown }).amplificationAllowance;
  if (removed !== undefined) {
    // A removed option must not be ignored silently: the reply limit it set would change unseen.
    throw new InvalidOptionError('amplificationAllowance', "was removed: a reply's limit is `maxAmplification` times its request's size on the wire, headers included (docs/udp.md)", removed);
  }
  rejectUnknownKeys(options, UDP_SERVER_OPTION_NAMES);
  const hosts = normalizeHostSpec(options.host);
  const hasWildcard = hosts.some(isWildcardHost);
  const perInterface = booleanOption('perInterface', options.perInterface, hosts.includes('*'));
  if (perInterface && !hasWildcard) {
    throw new InvalidOptionError('perInterface', "applies only to a wildcard host ('*', '0.0.0.0', '::' or none)", options.host);
  }
  const reusePort = reusePortOption(options.reusePort);
  const systemd = normalizeSystemdOption(options.systemd, options.host !== undefined || options.port !== undefined || options.perInterface !== undefined);
  if (systemd?.inetd === true) throw new InvalidOptionError('systemd.inetd', 'is for TCP servers: inetd mode serves one connection', true);
  const maxDatagramSize = integerOption('maxDatagramSize', options.maxDatagramSize, UDP_DEFAULTS.maxDatagramSize, 1, MAX_UDP_PAYLOAD);
  return {
    host: options.host,
    port: portOption(options.port),
    perInterface,
    reuseAddress: booleanOption('reuseAddress', options.reuseAddress, false),
    reusePort,
    ipv6Only: booleanOption('ipv6Only', options.ipv6Only, undefined),
    recvBufferSize: bufferSizeOption('recvBufferSize', options.recvBufferSize),
    sendBufferSize: bufferSizeOption('sendBufferSize', options.sendBufferSize),
    maxDatagramSize,
    maxAmplification: options.maxAmplification === Infinity ? Infinity : numberOption('maxAmplification', options.maxAmplification, UDP_DEFAULTS.maxAmplification),
    replyRateLimit: numberOption('replyRateLimit', options.replyRateLimit, UDP_DEFAULTS.replyRateLimit),
    maxInFlight: integerOption('maxInFlight', options.maxInFlight, UDP_DEFAULTS.maxInFlight, 0),
    rateLimit: rateLimitOption(options.rateLimit, maxDatagramSize),
    maxQueuedDatagrams: integerOption('maxQueuedDatagrams', options.maxQueuedDatagrams, UDP_DEFAULTS.maxQueuedDatagrams, 1),
    dropReportInterval: durationOption('dropReportInterval', options.dropReportInterval, UDP_DEFAULTS.dropReportInterval),
    signal: signalOption(options.signal),
    lookup: functionOption('lookup', options.lookup),
    systemd,
    fds: normalizeFdsOption(
      options.fds,
      options.host !== undefined ? 'host' : options.port !== undefined ? 'port' : options.perInterface !== undefined ? 'perInterface' : systemd !== undefined ? 'systemd' : undefined,
    ),
    proxyProtocol: normalizeUdpProxyProtocol(options.proxyProtocol),
  };
}

function bufferSizeOption(name: string, value: unknown): number | undefined {
  return value === undefined ? undefined : integerOption(name, value, 0, 1, 2 ** 31 - 1);
}

function rateLimitOption(value: unknown, maxDatagramSize: number): NormalizedUdpServerOptions['rateLimit'] {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new InvalidOptionError('rateLimit', 'must be an object or false', value);
  }
  const limit = optionsObject('rateLimit', value as UdpRateLimit | undefined, RATE_LIMIT_NAMES);
  const datagrams = numberOption('rateLimit.datagrams', limit.datagrams, UDP_DEFAULTS.rateDatagrams);
  const bytes = numberOption('rateLimit.bytes', limit.bytes, UDP_DEFAULTS.rateBytes);
  if (bytes > 0 && bytes < maxDatagramSize) {
    // A bucket smaller than one datagram would refuse that datagram forever.
    throw new InvalidOptionError('rateLimit.bytes', `must be 0 or at least \`maxDatagramSize\` (${maxDatagramSize})`, bytes);
  }
  const maxSources = integerOption('rateLimit.maxSources', limit.maxSources, UDP_DEFAULTS.maxSources, 1);
  if (datagrams === 0 && bytes === 0) return undefined;
  return { datagrams, bytes, maxSources };
}
