/**
 * Starts every server a command asks for -- TCP, and UDP beside it on the same port -- all or
 * nothing, prints one `listening` line per bound socket, and closes them together.
 */
import { ErrorCode, RejectCause, TcpServer, type BoundAddress, type SystemdListenOption, type TcpHandler, type TcpServerOptions, type UdpServer } from '../index.ts';
import type { UdpLimits } from './defaults.ts';
import { formatListenAddress } from './listen-address.ts';
import type { Logger } from './logger.ts';
import { RefusalLog } from './refusal-log.ts';
import { startUdpServer } from './udp-wiring.ts';
import type { UdpResponder } from './services/service.ts';

/** One service on one port: the hosts to bind, the TCP handler, and optionally a UDP responder. */
export interface Endpoint {
  /** Shown at the end of each `listening` line: the service or module name. */
  readonly name: string;
  /** Hosts sharing `port`; undefined is IPv4 any. */
  readonly hosts: readonly (string | undefined)[];
  readonly port: number;
  readonly tcp: TcpHandler;
  readonly udp?: UdpResponder;
  /** Serve the sockets the service manager passed instead of `hosts` and `port` (src/cli/activation-flags.ts). */
  readonly systemd?: SystemdListenOption;
  /** With `systemd`: the passed datagram sockets `udp` answers on; none means no UDP server. */
  readonly udpSystemd?: SystemdListenOption;
  /** With `udpSystemd`: no stream socket was passed for the service, so its TCP server never listens. */
  readonly udpOnly?: boolean;
}

/** Settings shared by every server of the set; the caps apply to each server on its own. */
export interface ServerSetOptions {
  readonly idleTimeout: number;
  /** `--max-clients`: sessions open at once (0 = no limit). */
  readonly maxClients: number;
  /** `--max-per-ip`: sessions open at once from one address, or one IPv6 /64 (0 = no limit). */
  readonly maxPerIp: number;
  /** `--udp-rate`, `--udp-reply-rate` (serve): each UDP server's limits; the defaults when absent. */
  readonly udp?: UdpLimits;
  /** More options for every TCP server (`run`'s module's), under the command's own. */
  readonly serverOptions?: TcpServerOptions;
  /** Limit options from flags or keys, over `serverOptions` (a flag wins over a module's option). */
  readonly limitOptions?: TcpServerOptions;
  /** How refusals name a cap's setting: `--max-clients` (the default, for flags) or `max-clients` (a config key). */
  readonly settingPrefix?: string;
  /** The caps the module's options set rather than a flag or the default: refusals name the option. */
  readonly capsFromModule?: ReadonlySet<'maxClients' | 'maxPerIp'>;
}

/** Counts an IPv6 /64 -- one host's usual allocation -- as one address for `--max-per-ip`. */
const PER_IP_IPV6_PREFIX = 64;

/** One started endpoint: its TCP server and, beside it, its UDP server. */
export interface RunningEndpoint {
  readonly name: string;
  readonly tcp: TcpServer;
  readonly udp: UdpServer | undefined;
}

/** The running servers of one command. */
export class ServerSet {
  readonly endpoints: readonly RunningEndpoint[];

  constructor(endpoints: readonly RunningEndpoint[]) {
    this.endpoints = endpoints;
  }

  /** Open TCP sessions, over every server. */
  get sessions(): number {
    return this.endpoints.reduce((sum, { tcp }) => sum + tcp.stats().sessions, 0);
  }

  /**
   * Stops accepting, half-closes every session and waits up to `timeout` ms (the library's
   * `close`); UDP servers wait as long for their handlers and replies.
   */
  async close(timeout: number): Promise<void> {
    await Promise.all(this.endpoints.flatMap(({ tcp, udp }) => [tcp.close({ timeout }), udp?.close({ timeout })]));
  }

  /** Closes everything at once. */
  async destroy(): Promise<void> {
    await destroyAll(this.endpoints);
  }

  /** Keeps the TCP listeners bound but refuses new connections (the library's `suspend`). */
  suspend(): void {
    for (const { tcp } of this.endpoints) tcp.suspend();
  }
}

/** How often a port-0 endpoint retries when the TCP port it got is taken for UDP. */
const PORT_ATTEMPTS = 8;

/**
 * Binds every endpoint, in order, then awaits `ready` (before the `listening` lines, which thus
 * mean ready); if any of it fails, closes what was bound and rethrows (for a bind, the
 * library's `ListenError`, whose message says what failed where).
 */
export async function startServerSet(endpoints: readonly Endpoint[], options: ServerSetOptions, log: Logger, ready?: (running: readonly RunningEndpoint[]) => Promise<void>): Promise<ServerSet> {
  const running: RunningEndpoint[] = [];
  try {
    for (const endpoint of endpoints) running.push(await startEndpoint(endpoint, options, log));
    await ready?.(running);
  } catch (error) {
    await destroyAll(running);
    throw error;
  }
  for (const { name, tcp, udp } of running) {
    for (const address of [...tcp.addresses, ...(udp?.addresses ?? [])]) logListening(log, name, address);
  }
  return new ServerSet(running);
}

export function logListening(log: Logger, name: string, address: BoundAddress): void {
  const passed = address.origin === undefined ? '' : ` (${address.origin} fd ${address.fd} ${JSON.stringify(address.fdName)})`;
  log.info('listening', `listening ${address.transport} ${formatListenAddress(address.address, address.port)} ${name}${passed}`, {
    transport: address.transport,
    address: address.address,
    port: address.port,
    family: address.family,
    service: name,
    listener: formatListenAddress(address.address, address.port),
    ...(address.origin === undefined ? {} : { origin: address.origin, fd: address.fd, fdName: address.fdName }),
  });
}

async function destroyAll(endpoints: readonly RunningEndpoint[]): Promise<void> {
  await Promise.all(endpoints.flatMap(({ tcp, udp }) => [tcp.destroy(), udp?.destroy()]));
}

/**
 * Starts one endpoint: its TCP server and, when it has a responder, UDP on the same port. With
 * `takeOver`, the TCP server takes that server's listening sockets (`handOver`) instead of binding.
 */
export async function startEndpoint(endpoint: Endpoint, options: ServerSetOptions, log: Logger, takeOver?: TcpServer): Promise<RunningEndpoint> {
  const host = endpoint.hosts.length === 1 ? endpoint.hosts[0] : endpoint.hosts.map((h) => h ?? '');
  for (let attempt = 1; ; attempt++) {
    const server = new TcpServer(
      {
        perAddressIPv6Prefix: PER_IP_IPV6_PREFIX,
        ...options.serverOptions,
        ...options.limitOptions,
        ...(endpoint.systemd !== undefined ? { systemd: endpoint.systemd } : endpoint.udpOnly === true ? {} : { host, port: endpoint.port }),
        idleTimeout: options.idleTimeout,
        maxConnections: options.maxClients,
        maxConnectionsPerAddress: options.maxPerIp,
      },
      endpoint.tcp,
    );
    watchTcpServer(server, endpoint.name, options, log);
    if (takeOver) await takeOver.handOver(server);
    else if (endpoint.udpOnly !== true) await server.listen();
    if (!endpoint.udp || ((endpoint.systemd !== undefined || endpoint.udpOnly === true) && endpoint.udpSystemd === undefined)) return { name: endpoint.name, tcp: server, udp: undefined };
    // UDP on the port TCP got, so a port-0 service still answers both on one number.
    const port = server.addresses[0]?.port ?? endpoint.port;
    try {
      const where = endpoint.udpSystemd === undefined ? { host, port } : { systemd: endpoint.udpSystemd };
      const udp = await startUdpServer({ ...where, name: endpoint.name, respond: endpoint.udp }, log, options.udp);
      return { name: endpoint.name, tcp: server, udp };
    } catch (error) {
      await server.destroy();
      const inUse = (error as { code?: string }).code === ErrorCode.ADDRESS_IN_USE;
      if (endpoint.port !== 0 || !inUse || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

/** Reports a server's runtime trouble, and its refusals once a second at most, in the log (instead of as process warnings). */
function watchTcpServer(server: TcpServer, name: string, options: ServerSetOptions, log: Logger): void {
  server.on('error', (error, session) => {
    const peer = session === undefined ? '' : ` ${formatListenAddress(session.remoteAddress, session.remotePort)}`;
    // The stack that helps is the handler's own, not the library's wrapper's.
    const stack = error.cause instanceof Error ? error.cause.stack : error.stack;
    log.error('session-error', `${name}${peer}: ${error.message}`, { service: name, code: error.code, remoteAddress: session?.remoteAddress, remotePort: session?.remotePort, stack });
  });
  server.on('warning', (warning) => log.warn('warning', `${name}: ${warning.message}`, { service: name }));
  const refusals = new RefusalLog(name, log, (reason) => describeRefusal(reason, options, server));
  server.on('rejected', (rejection) => {
    // Refusals while closing or suspended (exec's drain) are the shutdown itself: not reported.
    if (rejection.cause === RejectCause.CLOSING || rejection.cause === RejectCause.SUSPENDED) return;
    // Failed TLS handshakes come summarised by reason in the server's own `warning`: logged once, there.
    if (rejection.cause === RejectCause.TLS_HANDSHAKE) return;
    refusals.record(rejection);
  });
  server.on('close', () => refusals.flush());
}

function describeRefusal(reason: RejectCause, options: ServerSetOptions, server: TcpServer): string {
  const limits = server.throttle();
  // The flag when it set the cap in force; the option when the module's options or its throttle() did.
  const cap = (flag: string, option: string, configured: number, current: number, key: 'maxClients' | 'maxPerIp'): string =>
    current === configured && !options.capsFromModule?.has(key) ? `${options.settingPrefix ?? '--'}${flag} ${current}` : `${option} ${current}`;
  switch (reason) {
    case RejectCause.MAX_CONNECTIONS:
      return `too many clients (${cap('max-clients', 'maxConnections', options.maxClients, limits.maxConnections, 'maxClients')})`;
    case RejectCause.MAX_CONNECTIONS_PER_ADDRESS:
      return `too many clients from one address (${cap('max-per-ip', 'maxConnectionsPerAddress', options.maxPerIp, limits.maxConnectionsPerAddress, 'maxPerIp')})`;
    case RejectCause.ACCEPT_RATE:
      return `over the accept rate (acceptRate ${limits.acceptRate}/s)`;
    case RejectCause.ACCEPT_HOOK:
      return "refused by the handler's accept()";
    case RejectCause.DENIED:
      return 'on the deny list';
    case RejectCause.NOT_ALLOWED:
      return 'not on the allow list';
    case RejectCause.ACCEPT_TIMEOUT:
      return "the handler's accept() did not answer in time (acceptTimeout)";
    case RejectCause.PEER_GONE:
      return 'gone before it could be served (reset at once)';
    default:
      return reason;
  }
}
