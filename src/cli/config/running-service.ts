/**
 * One service of `up` while it runs: its servers (one TCP server per port, UDP beside it), its
 * handler in a {@link HandlerSlot}, its programs (exec), and what a reload may change in place --
 * the caps and accept rate (`throttle`), the access lists (`setAccessRules`), the TLS material
 * (`setTls`) and the handler (a new program or module, same shape) -- versus what needs a new
 * server ({@link replacementReason}).
 */
import { isDeepStrictEqual } from 'node:util';
import { ErrorCode, type TcpHandler, type TcpServer, type TlsOptions, type UdpServer } from '../../index.ts';
import { stopExec } from '../commands/exec.ts';
import { ChildProcesses } from '../exec/children.ts';
import { createExecHandler } from '../exec/exec-handler.ts';
import type { Logger } from '../logger.ts';
import { groupByPort } from '../serve-plan.ts';
import { servedPassedFds } from '../activation-flags.ts';
import { ServerSet, logListening, startEndpoint, type Endpoint, type RunningEndpoint, type ServerSetOptions } from '../server-set.ts';
import { findService } from '../services/registry.ts';
import type { UdpResponder } from '../services/service.ts';
import { startUdpServer } from '../udp-wiring.ts';
import type { ServiceResources } from './config-resources.ts';
import { HandlerSlot, handlerShape } from './handler-slot.ts';
import type { ServiceConfig } from './load-config.ts';

/** What one service serves: its TCP handler, UDP responder and a module's setup. */
interface Served {
  readonly tcp: TcpHandler;
  readonly udp: UdpResponder | undefined;
  readonly setup: ((server: TcpServer) => unknown) | undefined;
}

/** How long a replacement on the same port retries its bind while the old listener lets go. */
const REBIND_ATTEMPTS = 50;
const REBIND_DELAY_MS = 20;

/** A started service. */
export class RunningService {
  readonly name: string;
  #config: ServiceConfig;
  #resources: ServiceResources;
  readonly #tcp: TcpServer[];
  readonly #udp: UdpServer[];
  readonly #slot: HandlerSlot | undefined;
  #respond: UdpResponder | undefined;
  readonly #children: ChildProcesses | undefined;
  readonly #log: Logger;
  /** The options its servers were started with; the caps follow a reload, so refusals name the key in force. */
  readonly #options: Mutable<ServerSetOptions>;

  private constructor(config: ServiceConfig, resources: ServiceResources, tcp: TcpServer[], udp: UdpServer[], slot: HandlerSlot | undefined, served: Served, children: ChildProcesses | undefined, log: Logger, options: Mutable<ServerSetOptions>) {
    this.#options = options;
    this.name = config.name;
    this.#config = config;
    this.#resources = resources;
    this.#tcp = tcp;
    this.#udp = udp;
    this.#slot = slot;
    this.#respond = served.udp;
    this.#children = children;
    this.#log = log;
  }

  /** Whether its handler can be swapped in place (not a framed one). */
  get swappable(): boolean {
    return this.#slot !== undefined;
  }

  get config(): ServiceConfig {
    return this.#config;
  }

  get resources(): ServiceResources {
    return this.#resources;
  }

  /** Its servers: one TCP server per port (and on its passed fds), UDP ones beside them. */
  get servers(): { readonly tcp: readonly TcpServer[]; readonly udp: readonly UdpServer[] } {
    return { tcp: this.#tcp, udp: this.#udp };
  }

  /** Open TCP sessions. */
  get sessions(): number {
    return this.#tcp.reduce((sum, server) => sum + server.stats().sessions, 0);
  }

  /**
   * Binds every address of `config` (all or nothing); {@link announce} logs the `listening` lines.
   * With `retryInUse`, a bind that finds its address in use is retried for a moment (a
   * replacement whose predecessor is letting go of the same port).
   * @throws {ListenError} (rejects) when an address cannot be bound
   */
  static async start(config: ServiceConfig, resources: ServiceResources, log: Logger, drainTimeout: number, retryInUse = false, previous?: RunningService): Promise<RunningService> {
    const children = config.kind === 'exec' ? new ChildProcesses() : undefined;
    const served = serve(config, resources, children, log, drainTimeout);
    const slot = HandlerSlot.for(served.tcp);
    let service: RunningService | undefined;
    // Datagrams may arrive before `service` exists: the first responder answers them.
    const respond: UdpResponder = (request, room) => (service === undefined ? served.udp : service.#respond)!(request, room);
    const tcp: TcpServer[] = [];
    const udp: UdpServer[] = [];
    const options = serverSetOptions(config, resources);
    try {
      // Taking over: the old UDP sockets go first (UDP has no hand-over; a datagram in between is lost, as UDP allows).
      if (previous) await Promise.all(previous.#udp.splice(0).map((server) => server.close({ timeout: drainTimeout })));
      for (const [index, { hosts, port }] of groupByPort(config.listen).entries()) {
        const host = hosts.length === 1 ? hosts[0] : hosts.map((h) => h ?? '');
        const withUdp = served.udp !== undefined && config.transports.includes('udp');
        if (!config.transports.includes('tcp')) {
          udp.push(await retrying(retryInUse || previous !== undefined, () => startUdpServer({ host, port, name: config.name, respond }, log, config.udp)));
          continue;
        }
        const endpoint = { name: config.name, hosts, port, tcp: slot?.handler ?? served.tcp, ...(withUdp && { udp: respond }) };
        const takeOver = previous === undefined ? undefined : previous.#tcp[index];
        const running: RunningEndpoint = takeOver ? await startEndpoint(endpoint, options, log, takeOver) : await retrying(retryInUse, () => startEndpoint(endpoint, options, log));
        tcp.push(running.tcp);
        if (running.udp) udp.push(running.udp);
      }
      if (config.systemd.length > 0) {
        const running = await startPassed(config, { tcp: slot?.handler ?? served.tcp, udp: served.udp === undefined ? undefined : respond }, options, log, previous === undefined ? undefined : previous.#tcp[tcp.length]);
        tcp.push(running.tcp);
        if (running.udp) udp.push(running.udp);
      }
      service = new RunningService(config, resources, tcp, udp, slot, served, children, log, options);
      if (served.setup) for (const server of tcp) await served.setup(server);
    } catch (error) {
      await Promise.all([...tcp.map((server) => server.destroy()), ...udp.map((server) => server.destroy())]);
      children?.killAll();
      throw error;
    }
    return service;
  }

  /** Logs a `listening` line per bound socket (once every service of a start is bound, so the lines mean ready). */
  announce(): void {
    for (const server of [...this.#tcp, ...this.#udp]) for (const address of server.addresses) logListening(this.#log, this.name, address);
  }

  /**
   * Applies `next` in place and returns one line per change; undefined (nothing changed) when
   * `next` needs a new server ({@link replacementReason} says why).
   * @throws {SwitchboardError} when the library refuses a change (new TLS material that does not load)
   */
  async applyInPlace(next: ServiceConfig, resources: ServiceResources, drainTimeout: number): Promise<string[]> {
    const before = this.#config;
    const changes: string[] = [];
    const limits = { maxConnections: effective(next, resources, 'maxClients'), maxConnectionsPerAddress: effective(next, resources, 'maxPerIp'), acceptRate: next.limitOptions.acceptRate ?? resources.loaded?.options.acceptRate ?? 0 };
    const was = { maxConnections: effective(before, this.#resources, 'maxClients'), maxConnectionsPerAddress: effective(before, this.#resources, 'maxPerIp'), acceptRate: before.limitOptions.acceptRate ?? this.#resources.loaded?.options.acceptRate ?? 0 };
    const flagOf = { maxConnections: 'max-clients', maxConnectionsPerAddress: 'max-per-ip', acceptRate: 'accept-rate' } as const;
    const tls = resources.tls;
    if (tls && !sameMaterial(tls, this.#resources.tls)) for (const server of this.#tcp) server.setTls(tls);
    if (tls && !sameMaterial(tls, this.#resources.tls)) changes.push(`TLS material re-read from ${next.tls!.cert} (next handshakes)`);
    for (const key of Object.keys(limits) as (keyof typeof limits)[]) {
      if (limits[key] !== was[key]) changes.push(`${flagOf[key]} ${was[key]} \u2192 ${limits[key]} (next connections)`);
    }
    if (changes.some((line) => /^(max-clients|max-per-ip|accept-rate) /.test(line))) {
      for (const server of this.#tcp) server.throttle(limits);
      this.#options.maxClients = limits.maxConnections;
      this.#options.maxPerIp = limits.maxConnectionsPerAddress;
    }
    for (const list of ['allow', 'deny'] as const) {
      const now = next.limitOptions[list] ?? resources.loaded?.options[list] ?? null;
      const then = before.limitOptions[list] ?? this.#resources.loaded?.options[list] ?? null;
      if (isDeepStrictEqual(now, then)) continue;
      for (const server of this.#tcp) server.setAccessRules({ [list]: now });
      changes.push(`${list} ${describeList(then)} \u2192 ${describeList(now)} (next connections)`);
    }
    const handlerChange = describeHandlerChange(before, next, this.#resources, resources);
    if (handlerChange !== undefined) {
      const served = serve(next, resources, this.#children, this.#log, drainTimeout);
      this.#slot!.swap(served.tcp);
      this.#respond = served.udp;
      if (served.setup) for (const server of this.#tcp) await served.setup(server);
      changes.push(`${handlerChange} (next connections; open ones keep theirs)`);
    }
    this.#config = next;
    this.#resources = resources;
    return changes;
  }

  /**
   * Once replaced (its sockets handed over, or new ones bound elsewhere): its sessions, and the
   * connections still pending in an `accept` handler or a TLS handshake, are left to finish by
   * themselves for `timeout`; then what is left is closed as on shutdown, within {@link RETIRE_GRACE_MS}.
   * A session that had just opened is thus served, not half-closed before its first byte.
   */
  async retire(timeout: number): Promise<void> {
    await Promise.all(this.#tcp.map((server) => finished(server, timeout)));
    await this.close(Math.min(timeout, RETIRE_GRACE_MS));
  }

  /** Stops accepting and lets sessions finish within `timeout` (exec: programs get SIGTERM, then SIGKILL). */
  async close(timeout: number): Promise<void> {
    const udp = Promise.all(this.#udp.map((server) => server.close({ timeout })));
    if (this.#children) {
      const endpoints = this.#tcp.map((tcp) => ({ name: this.name, tcp, udp: undefined }));
      await Promise.all([stopExec(new ServerSet(endpoints), this.#children, this.#log).close(timeout), udp]);
      return;
    }
    await Promise.all([...this.#tcp.map((server) => server.close({ timeout })), udp]);
  }

  /**
   * The library's graceful close for every server, exec's too: the listeners go at once (a
   * replacement is about to bind their port), sessions are half-closed, programs get SIGTERM.
   */
  async closeListenersFirst(timeout: number): Promise<void> {
    this.#children?.terminateAll();
    await Promise.all([...this.#tcp.map((server) => server.close({ timeout })), ...this.#udp.map((server) => server.close({ timeout }))]);
    this.#children?.killAll();
  }

  /** Closes everything at once. */
  async destroy(): Promise<void> {
    this.#children?.killAll();
    await Promise.all([...this.#tcp.map((server) => server.destroy()), ...this.#udp.map((server) => server.destroy())]);
  }
}

/**
 * Why `next` cannot be applied to the running `before` in place, or undefined when it can: a new
 * address, transport, deadline, output cap, TLS on or off, UDP limits, kind, or a handler of
 * another shape.
 */
export function replacementReason(before: ServiceConfig, beforeResources: ServiceResources, next: ServiceConfig, nextResources: ServiceResources, slot = true): string | undefined {
  if (before.kind !== next.kind || before.builtin !== next.builtin) return 'the service changed';
  if (!sameListen(before, next)) return 'listen changed';
  if (!isDeepStrictEqual(before.transports, next.transports)) return 'transports changed';
  for (const key of ['idleTimeout', 'firstByteTimeout', 'maxLifetime', 'maxBufferedOutput'] as const) {
    const then = key === 'idleTimeout' ? effective(before, beforeResources, key) : (before.limitOptions[key] ?? beforeResources.loaded?.options[key]);
    const now = key === 'idleTimeout' ? effective(next, nextResources, key) : (next.limitOptions[key] ?? nextResources.loaded?.options[key]);
    if (then !== now) return `${KEY_OF[key]} changed`;
  }
  if ((before.tls === undefined) !== (next.tls === undefined)) return next.tls ? 'TLS turned on' : 'TLS turned off';
  if (!isDeepStrictEqual(before.udp, next.udp)) return 'UDP limits changed';
  // The trusted balancers are fixed at a server's construction (its pending stage reads them): a new server takes the sockets over.
  if (!isDeepStrictEqual(before.proxyProtocol, next.proxyProtocol)) return 'proxy-protocol changed';
  const thenLoaded = beforeResources.loaded;
  const nowLoaded = nextResources.loaded;
  if (thenLoaded && nowLoaded) {
    if (thenLoaded.handler !== nowLoaded.handler && (!slot || handlerShape(thenLoaded.handler) !== handlerShape(nowLoaded.handler))) return `the module's handler has another shape (${handlerShape(nowLoaded.handler)})`;
    const { tls: _a, ...thenOptions } = thenLoaded.options;
    const { tls: _b, ...nowOptions } = nowLoaded.options;
    if (!isDeepStrictEqual(thenOptions, nowOptions)) return "the module's options changed";
    if (thenLoaded.options.tls?.mode !== nowLoaded.options.tls?.mode) return "the module's TLS mode changed";
  }
  return undefined;
}

const KEY_OF = { idleTimeout: 'idle-timeout', firstByteTimeout: 'first-byte-timeout', maxLifetime: 'max-lifetime', maxBufferedOutput: 'max-output' } as const;

/** A limit as the server has it: the file's, else a module's option, else the kind's default. */
function effective(config: ServiceConfig, resources: ServiceResources, key: 'idleTimeout' | 'maxClients' | 'maxPerIp'): number {
  const option = { idleTimeout: 'idleTimeout', maxClients: 'maxConnections', maxPerIp: 'maxConnectionsPerAddress' } as const;
  if (config.explicit.has(key)) return config[key];
  return resources.loaded?.options[option[key]] ?? config[key];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function serverSetOptions(config: ServiceConfig, resources: ServiceResources): Mutable<ServerSetOptions> {
  const capsFromModule = new Set<'maxClients' | 'maxPerIp'>();
  const options = resources.loaded?.options;
  if (!config.explicit.has('maxClients') && options?.maxConnections !== undefined) capsFromModule.add('maxClients');
  if (!config.explicit.has('maxPerIp') && options?.maxConnectionsPerAddress !== undefined) capsFromModule.add('maxPerIp');
  return {
    idleTimeout: effective(config, resources, 'idleTimeout'),
    maxClients: effective(config, resources, 'maxClients'),
    maxPerIp: effective(config, resources, 'maxPerIp'),
    ...(config.udp && { udp: config.udp }),
    serverOptions: { ...options, ...(resources.tls && { tls: resources.tls }), ...(config.proxyProtocol && { proxyProtocol: config.proxyProtocol }) },
    limitOptions: config.limitOptions,
    settingPrefix: '',
    capsFromModule,
  };
}

function serve(config: ServiceConfig, resources: ServiceResources, children: ChildProcesses | undefined, log: Logger, drainTimeout: number): Served {
  if (config.kind === 'builtin') {
    const handlers = findService(config.builtin!)!.create(resources.quotes === undefined ? {} : { quotes: resources.quotes });
    return { tcp: handlers.tcp, udp: handlers.udp, setup: undefined };
  }
  if (config.kind === 'exec') {
    const program = { program: config.program!, args: config.args, ...(config.env && { env: config.env }), ...(config.cwd !== undefined && { cwd: config.cwd }), ...(resources.user && { user: resources.user }) };
    return { tcp: createExecHandler(program, children!, log, drainTimeout), udp: undefined, setup: undefined };
  }
  const loaded = resources.loaded!;
  return { tcp: loaded.handler, udp: undefined, setup: loaded.setup };
}

/** What changed in the handler, or undefined when it did not. */
function describeHandlerChange(before: ServiceConfig, next: ServiceConfig, beforeResources: ServiceResources, nextResources: ServiceResources): string | undefined {
  if (next.kind === 'exec') {
    const what = (config: ServiceConfig, resources: ServiceResources) => ({ program: config.program, args: config.args, env: config.env, cwd: config.cwd, user: resources.user?.uid });
    if (isDeepStrictEqual(what(before, beforeResources), what(next, nextResources))) return undefined;
    const command = (config: ServiceConfig) => [config.program, ...config.args].join(' ');
    return `program ${JSON.stringify(command(before))} \u2192 ${JSON.stringify(command(next))}${before.program === next.program && isDeepStrictEqual(before.args, next.args) ? ' (its environment, directory or user)' : ''}`;
  }
  if (next.kind === 'builtin') return isDeepStrictEqual(beforeResources.quotes, nextResources.quotes) ? undefined : 'quotes re-read';
  return beforeResources.loaded?.handler === nextResources.loaded?.handler ? undefined : `module ${next.module} reloaded`;
}

function sameMaterial(a: TlsOptions, b: TlsOptions | undefined): boolean {
  return b !== undefined && isDeepStrictEqual([a.cert, a.key, a.ca, a.requestCert, a.rejectUnauthorized], [b.cert, b.key, b.ca, b.requestCert, b.rejectUnauthorized]);
}

function describeList(list: unknown): string {
  return list === null || (Array.isArray(list) && list.length === 0) ? 'none' : JSON.stringify(list);
}

/** After its drain timeout, how long a replaced service's last sessions get to close gracefully. */
const RETIRE_GRACE_MS = 2000;

/** Resolves once `server` has no session and no pending connection, or after `ms`. */
async function finished(server: TcpServer, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  const busy = (): boolean => {
    const { sessions, pending } = server.stats();
    return sessions + pending > 0;
  };
  while (busy() && performance.now() < deadline) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        server.off('empty', done).off('session', done).off('rejected', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, deadline - performance.now()));
      server.on('empty', done).on('session', done).on('rejected', done);
    });
  }
}

/**
 * Whether `next` can take over `running`'s sockets: the same addresses and transports, the same
 * per-connection socket options. Not on passed UDP fds: UDP has no hand-over, and a passed fd is
 * adopted once.
 */
export function canTakeOver(running: RunningService, next: ServiceConfig, resources: ServiceResources): boolean {
  const before = running.config;
  if (!sameListen(before, next) || !isDeepStrictEqual(before.transports, next.transports)) return false;
  if (!next.transports.includes('tcp')) return false;
  if (running.servers.udp.some((server) => server.addresses.some((address) => address.origin !== undefined))) return false;
  const socketOptions = (options: ServiceResources['loaded']) => [options?.options.noDelay, options?.options.keepAlive, options?.options.keepAliveInitialDelay, options?.options.highWaterMark];
  return isDeepStrictEqual(socketOptions(running.resources.loaded), socketOptions(resources.loaded));
}

/** The same addresses and the same passed-fd names, in the same order. */
function sameListen(a: ServiceConfig, b: ServiceConfig): boolean {
  return isDeepStrictEqual(a.listen.map((address) => address.text), b.listen.map((address) => address.text)) && isDeepStrictEqual(a.systemd, b.systemd);
}

/**
 * The service's server on its passed fds (`listen = ["systemd:NAME"]`): TCP on the stream fds,
 * UDP beside it on the datagram fds; with `takeOver`, the TCP server takes that one's sockets.
 * @throws {ActivationError} for a name no fd has, or fds of a transport the service does not have
 */
async function startPassed(config: ServiceConfig, handlers: { tcp: TcpHandler; udp: UdpResponder | undefined }, options: ServerSetOptions, log: Logger, takeOver: TcpServer | undefined): Promise<RunningEndpoint> {
  const fds = servedPassedFds(config.systemd, `services.${config.name}.listen`, { tcp: config.transports.includes('tcp'), udp: handlers.udp !== undefined && config.transports.includes('udp') });
  const endpoint: Endpoint = {
    name: config.name,
    hosts: [],
    port: 0,
    tcp: handlers.tcp,
    ...(fds.udp.length > 0 && { udp: handlers.udp!, udpSystemd: { fds: fds.udp } }),
    ...(fds.tcp.length > 0 ? { systemd: { fds: fds.tcp } } : { udpOnly: true }),
  };
  return startEndpoint(endpoint, options, log, fds.tcp.length > 0 ? takeOver : undefined);
}

/** Runs `start`, retrying (when asked) while the address is still in use by the server being replaced. */
async function retrying<T>(retry: boolean, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (!retry || attempt >= REBIND_ATTEMPTS || (error as { code?: string }).code !== ErrorCode.ADDRESS_IN_USE) throw error;
      await new Promise((resolve) => setTimeout(resolve, REBIND_DELAY_MS));
    }
  }
}
