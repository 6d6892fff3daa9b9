/**
 * Running under a service manager (docs/systemd.md): the flags `--listen systemd:NAME`,
 * `--listen-fds` and `--inetd` of serve, exec and run, the endpoints they make of the passed
 * sockets, and the readiness, status, reload, stopping and watchdog notifications.
 */
import { ActivationError, ErrorCode, ServiceNotifier, listenFds, type ListenFd, type TcpHandler } from '../index.ts';
import { UsageError } from './exit-code.ts';
import { parseListenAddress } from './listen-address.ts';
import type { Logger } from './logger.ts';
import { flagOptions } from './settings.ts';
import { groupByPort } from './serve-plan.ts';
import type { Endpoint, ServerSet } from './server-set.ts';
import { SERVICE_NAMES, findService } from './services/registry.ts';
import type { ServiceDefinition } from './services/service.ts';
import type { Stoppable } from './shutdown.ts';

/** The flags, beside `--listen`, of every serving command. */
export const ACTIVATION_OPTIONS = flagOptions(['listen-fds', 'inetd']);

/** The `--help` paragraph of these flags (docs/systemd.md has the rest). */
export const ACTIVATION_HELP = `Under a service manager (systemd socket units, systemd-socket-activate; docs/systemd.md):
  -l, --listen systemd:NAME  the passed sockets named NAME (FileDescriptorName=, --fdname); mixes
                             with addresses (serve: SERVICE=systemd:NAME too)
      --listen-fds           every passed socket; serve picks the service by fd name (echo, echo-udp);
                             one connected socket (Accept=yes) is inetd mode
      --inetd                serve the one connection on fds 0/1 (StandardInput=socket), then exit
  With NOTIFY_SOCKET set: READY=1 once bound, STATUS=, STOPPING=1, WATCHDOG=1 (Type=notify, NotifyAccess=all).`;

/** Their values, as `parseArgs` returns them. */
export interface ActivationFlagValues {
  readonly listen?: string[] | undefined;
  readonly 'listen-fds'?: boolean | undefined;
  readonly inetd?: boolean | undefined;
}

/** `--listen systemd:NAME` (serve: `SERVICE=systemd:NAME` too). */
export interface SystemdListen {
  readonly name: string;
  readonly service: string | undefined;
  readonly text: string;
}

/** What the flags ask of the passed sockets. */
export interface ActivationRequest {
  /** The `--listen` values that are addresses. */
  readonly listens: readonly string[];
  readonly named: readonly SystemdListen[];
  /** `--listen-fds`: every passed fd. */
  readonly all: boolean;
  /** `--inetd`: serve the one connection the manager accepted, then exit. */
  readonly inetd: boolean;
}

const PREFIX = 'systemd:';

/**
 * Splits `--listen` into addresses and `systemd:NAME`, and reads `--listen-fds` and `--inetd`.
 * @throws {UsageError} for an empty or malformed name, a `SERVICE=` prefix where `services` is
 *   empty, or `--inetd` together with anything else to listen on
 */
export function readActivationFlags(values: ActivationFlagValues, command: string, services: readonly string[] = []): ActivationRequest {
  const listens: string[] = [];
  const named: SystemdListen[] = [];
  for (const text of values.listen ?? []) {
    const match = /^(?:([A-Za-z][\w-]*)=)?systemd:(.*)$/.exec(text);
    if (match === null) {
      listens.push(text);
      continue;
    }
    const [, service, name = ''] = match;
    if (!/^[^\s:]{1,255}$/.test(name)) throw new UsageError(`--listen ${JSON.stringify(text)}: expected ${PREFIX}NAME, NAME an fd name (FileDescriptorName=, --fdname) without ':' or spaces`, command);
    if (service !== undefined && !services.includes(service)) {
      const why = services.length === 0 ? `${command} takes no SERVICE= prefix` : `unknown service ${JSON.stringify(service)} (one of ${services.join(', ')})`;
      throw new UsageError(`--listen ${JSON.stringify(text)}: ${why}`, command);
    }
    named.push({ name, service, text });
  }
  const all = values['listen-fds'] === true;
  const inetd = values.inetd === true;
  if (inetd && (listens.length > 0 || named.length > 0 || all)) {
    throw new UsageError('--inetd serves the one connection the service manager accepted: it takes no --listen or --listen-fds', command);
  }
  if (all && named.length > 0) throw new UsageError(`--listen-fds already serves every passed fd: drop --listen ${named[0]!.text}`, command);
  return { listens, named, all, inetd };
}

/**
 * Takes the `LISTEN_*` variables out of `process.env` whether or not the command serves the
 * passed sockets, so that no program `exec` runs inherits them (the first read removes them;
 * malformed ones are reported only where they are used).
 */
export function forgetListenEnvironment(): void {
  try {
    listenFds();
  } catch {
    // reported by the flags that use them
  }
}

/** Whether the flags ask for anything to serve. */
export function servesAnything(request: ActivationRequest): boolean {
  return request.listens.length > 0 || request.named.length > 0 || request.all || request.inetd;
}

/**
 * exec's and run's endpoints, all serving `tcp`: the passed sockets first (so that a wrong fd
 * fails before anything binds), then the addresses. `--listen-fds` with one connected socket
 * (`systemd-socket-activate -a`, `Accept=yes`) is inetd mode. The passed fds are read when the
 * returned function runs (call it inside the start, so that a failure is logged as one).
 * @throws {UsageError} for a malformed address, or no address at all
 */
export function tcpEndpoints(request: ActivationRequest, command: string): (name: string, tcp: TcpHandler) => Endpoint[] {
  if (!servesAnything(request)) throw new UsageError('--listen is required (HOST:PORT, [IPv6]:PORT, *:PORT, :PORT or systemd:NAME; or --listen-fds, --inetd)', command);
  const addresses = request.listens.map((text) => parseListenAddress(text));
  return (name, tcp) => {
    const passed: Endpoint[] = [];
    if (request.inetd || (request.all && isInetd(listenFds().fds))) passed.push({ name, hosts: [], port: 0, tcp, systemd: { inetd: true } });
    else if (request.all) passed.push({ name, hosts: [], port: 0, tcp, systemd: true });
    else if (request.named.length > 0) passed.push({ name, hosts: [], port: 0, tcp, systemd: request.named.map((entry) => entry.name) });
    return [...passed, ...groupByPort(addresses).map(({ hosts, port }) => ({ name, hosts, port, tcp }))];
  };
}

/** One connected socket and nothing else: what `Accept=yes` passes. */
function isInetd(fds: readonly ListenFd[]): boolean {
  return fds.length === 1 && fds[0]!.state === 'connected';
}

/** A service of serve on passed sockets: its TCP fds and its UDP fds, by number. */
export interface ActivatedService {
  readonly service: ServiceDefinition;
  readonly tcp: readonly number[];
  readonly udp: readonly number[];
}

/**
 * Which service serves each passed fd `serve` was asked to serve. The service is the one a
 * `SERVICE=systemd:NAME` names; else the fd's name, less a `-tcp` or `-udp` suffix (`echo`,
 * `echo-udp`); else, for a name that is no service (`unknown`, when the manager named none),
 * the one service named as an argument. The transport is the fd's own: a datagram fd serves
 * the service's UDP side, any other its TCP side (a wrong kind fails, coded, before any fd is
 * touched).
 * @throws {ActivationError} `SWB_ERR_ACTIVATION_NAME_NOT_FOUND` for an fd no service can serve;
 *   the library's errors for fds that were not passed
 */
export function planActivatedServe(request: ActivationRequest, positionals: readonly string[], fds: readonly ListenFd[], reason: string | undefined): ActivatedService[] {
  if (fds.length === 0) throw new ActivationError(ErrorCode.ACTIVATION_NO_SOCKETS, `socket activation: no sockets were passed to this process: ${reason ?? 'LISTEN_FDS=0'}`);
  const chosen: { fd: ListenFd; service: string | undefined }[] = [];
  if (request.all) for (const fd of fds) chosen.push({ fd, service: undefined });
  for (const { name, service, text } of request.named) {
    const named = fds.filter((fd) => fd.name === name);
    if (named.length === 0) {
      const known = [...new Set(fds.map((fd) => fd.name))].join(', ');
      throw new ActivationError(ErrorCode.ACTIVATION_NAME_NOT_FOUND, `--listen ${text}: no passed fd is named ${JSON.stringify(name)} (the names are: ${known})`, { fdName: name });
    }
    for (const fd of named) chosen.push({ fd, service });
  }
  const only = positionals.length === 1 ? positionals[0]!.split('=')[0] : undefined;
  const byService = new Map<ServiceDefinition, { tcp: number[]; udp: number[] }>();
  for (const { fd, service: asked } of chosen) {
    const service = findService(asked ?? serviceNameOf(fd.name)) ?? (only === undefined ? undefined : findService(only));
    if (service === undefined) {
      throw new ActivationError(ErrorCode.ACTIVATION_NAME_NOT_FOUND, `socket activation: no service serves fd ${fd.fd} ${JSON.stringify(fd.name)}: name the fd after one (${SERVICE_NAMES.join(', ')}, optionally with -tcp or -udp), or name one service: serve SERVICE --listen-fds`, { fd: fd.fd, fdName: fd.name });
    }
    const sides = byService.get(service) ?? { tcp: [], udp: [] };
    byService.set(service, sides);
    const side = fd.kind === 'datagram' ? sides.udp : sides.tcp;
    if (!side.includes(fd.fd)) side.push(fd.fd);
  }
  return [...byService].map(([service, { tcp, udp }]) => ({ service, tcp, udp }));
}

/**
 * The passed fds named `names`, by number: the stream ones for a TCP server, the datagram ones
 * for a UDP server (`up`'s `listen = ["systemd:NAME"]`). `LISTEN_FDS` is read once per process,
 * so a reload sees the fds of the start.
 * @throws {ActivationError} `SWB_ERR_ACTIVATION_NO_SOCKETS` when nothing was passed;
 *   `SWB_ERR_ACTIVATION_NAME_NOT_FOUND` (naming `label`) for a name no fd has
 */
export function passedFdsNamed(names: readonly string[], label: string): { readonly tcp: number[]; readonly udp: number[] } {
  const { fds, reason } = listenFds();
  if (fds.length === 0) throw new ActivationError(ErrorCode.ACTIVATION_NO_SOCKETS, `${label}: no sockets were passed to this process: ${reason ?? 'LISTEN_FDS=0'}`);
  const tcp: number[] = [];
  const udp: number[] = [];
  for (const name of names) {
    const named = fds.filter((fd) => fd.name === name);
    if (named.length === 0) {
      const known = [...new Set(fds.map((fd) => fd.name))].join(', ');
      throw new ActivationError(ErrorCode.ACTIVATION_NAME_NOT_FOUND, `${label} systemd:${name}: no passed fd is named ${JSON.stringify(name)} (the names are: ${known})`, { fdName: name });
    }
    for (const fd of named) (fd.kind === 'datagram' ? udp : tcp).push(fd.fd);
  }
  return { tcp, udp };
}

/**
 * {@link passedFdsNamed} for a service that serves `serves.tcp` / `serves.udp`: fds of a
 * transport it does not serve are refused. `where` ends the UDP refusal (` on workers`, say).
 * @throws {ActivationError} as passedFdsNamed; `SWB_ERR_ACTIVATION_FD_TYPE` for fds of a transport the service does not serve
 */
export function servedPassedFds(names: readonly string[], label: string, serves: { readonly tcp: boolean; readonly udp: boolean }, where = ''): { readonly tcp: number[]; readonly udp: number[] } {
  const fds = passedFdsNamed(names, label);
  const listed = `${label} ${names.map((name) => `systemd:${name}`).join(', ')}`;
  if (fds.udp.length > 0 && !serves.udp) throw new ActivationError(ErrorCode.ACTIVATION_FD_TYPE, `${listed}: datagram fd(s) ${fds.udp.join(', ')}, but the service has no udp transport${where}`, { fd: fds.udp[0] });
  if (fds.tcp.length > 0 && !serves.tcp) throw new ActivationError(ErrorCode.ACTIVATION_FD_TYPE, `${listed}: stream fd(s) ${fds.tcp.join(', ')}, but the service has no tcp transport`, { fd: fds.tcp[0] });
  return fds;
}

/** `echo-udp` -> `echo`, `echo-tcp` -> `echo`, `echo` -> `echo`. */
export function serviceNameOf(fdName: string): string {
  return fdName.replace(/-(?:tcp|udp)$/, '');
}

/**
 * serve's endpoints on the passed sockets: one per service, its TCP server on its stream fds and
 * its UDP server on its datagram fds (a service passed only datagram fds has a TCP server that
 * never listens); with `--inetd`, the one service named serves the one connection. The passed
 * fds are read when the returned function runs.
 * @throws {UsageError} for `--inetd` without exactly one service named
 */
export function serveActivatedEndpoints(request: ActivationRequest, positionals: readonly string[], handlersOf: (service: ServiceDefinition) => Pick<Endpoint, 'tcp' | 'udp'>): () => Endpoint[] {
  if (request.inetd) {
    const service = positionals.length === 1 ? findService(positionals[0]!) : undefined;
    if (service === undefined) throw new UsageError(`--inetd serves one connection: name its service (serve SERVICE --inetd, SERVICE one of ${SERVICE_NAMES.join(', ')})`, 'serve');
    return () => [{ name: service.name, hosts: [], port: 0, tcp: handlersOf(service).tcp, systemd: { inetd: true } }];
  }
  if (request.named.length === 0 && !request.all) return () => [];
  return () => {
    const { fds, reason } = listenFds();
    return planActivatedServe(request, positionals, fds, reason).map(({ service, tcp, udp }): Endpoint => {
      const { tcp: tcpHandler, udp: responder } = handlersOf(service);
      if (udp.length > 0 && responder === undefined) {
        throw new ActivationError(ErrorCode.ACTIVATION_FD_TYPE, `socket activation: ${service.name} has no UDP side for the datagram fd(s) ${udp.join(', ')}`, { fd: udp[0] });
      }
      return {
        name: service.name,
        hosts: [],
        port: 0,
        tcp: tcpHandler,
        ...(responder && { udp: responder }),
        ...(tcp.length > 0 ? { systemd: { fds: tcp } } : { udpOnly: true }),
        ...(udp.length > 0 && { udpSystemd: { fds: udp } }),
      };
    });
  };
}

/** What {@link ServiceNotification} reports on: a {@link ServerSet}, or `up`'s services. */
export interface ServingServers {
  readonly endpoints: readonly { readonly tcp?: { readonly addresses: readonly unknown[] } | undefined; readonly udp?: { readonly addresses: readonly unknown[] } | undefined }[];
  readonly sessions: number;
}

/**
 * `target` with `STOPPING=1` sent in front of its close (the status line `closing(timeout)`
 * gives) and of its destroy (`stopping now`); `before` runs first in both.
 */
export function stoppingFirst(notifier: ServiceNotifier, target: Stoppable, closing: (timeout: number) => string, before: () => void = () => {}): Stoppable {
  return {
    close: (timeout) => {
      before();
      notifier.stopping(closing(timeout));
      return target.close(timeout);
    },
    destroy: () => {
      before();
      notifier.stopping('stopping now');
      return target.destroy();
    },
  };
}

/** How often the `STATUS=` line is refreshed, at most (only when the count changed), in ms. */
export const STATUS_INTERVAL_MS = 1000;

/**
 * The CLI's sd_notify: `READY=1` once every server is bound, `STATUS=` with the open sessions
 * (checked every {@link STATUS_INTERVAL_MS}, sent when changed), `STOPPING=1` when a close
 * starts, `RELOADING=1` ... `READY=1` around a SIGHUP reload, and the notifier's own watchdog.
 * Without `NOTIFY_SOCKET` nothing runs: no timer, no spawn, no handler.
 */
export class ServiceNotification {
  readonly #notifier: ServiceNotifier;
  #timer: NodeJS.Timeout | undefined;
  #lastStatus = '';
  #removeReload: (() => void) | undefined;

  constructor(log: Logger) {
    this.#notifier = new ServiceNotifier();
    this.#notifier.on('warning', (warning) => log.warn('notify-failed', warning.message, { code: warning.code }));
  }

  /**
   * Every server is bound: READY=1, then status updates; returns `target` with STOPPING=1 in
   * front of its close. `up` passes `sighup: false` and brackets its own (asynchronous) reload
   * with {@link reload}.
   */
  serving(servers: ServingServers, target: Stoppable, { sighup = true }: { readonly sighup?: boolean } = {}): Stoppable {
    const notifier = this.#notifier;
    if (!notifier.enabled) return target;
    const addresses = servers.endpoints.reduce((sum, { tcp, udp }) => sum + (tcp?.addresses.length ?? 0) + (udp?.addresses.length ?? 0), 0);
    const status = (): string => `serving ${addresses} address(es), ${servers.sessions} session(s) open`;
    this.#lastStatus = status();
    notifier.ready(this.#lastStatus);
    this.#timer = setInterval(() => {
      const now = status();
      if (now !== this.#lastStatus) notifier.status((this.#lastStatus = now));
    }, STATUS_INTERVAL_MS).unref();
    if (sighup) this.#reloadAroundSighup(() => this.#lastStatus);
    return stoppingFirst(notifier, target, (timeout) => `stopping: ${servers.sessions} session(s) have ${timeout} ms to finish`, () => this.#stop());
  }

  /** RELOADING=1, then `reload`, then READY=1 with the status (after a failed reload too: the old config still serves). */
  async reload<T>(reload: () => Promise<T>): Promise<T> {
    if (!this.#notifier.enabled) return reload();
    this.#notifier.reloading('reloading');
    try {
      return await reload();
    } finally {
      this.#notifier.ready(this.#lastStatus);
    }
  }

  /** Sends what is queued and stops; never rejects. */
  close(): Promise<void> {
    this.#stop();
    return this.#notifier.close();
  }

  /**
   * RELOADING=1 before the handlers SIGHUP already has (the TLS reload, which is synchronous)
   * and READY=1 after them. With no such handler SIGHUP keeps its default action: none is added.
   */
  #reloadAroundSighup(status: () => string): void {
    if (process.listenerCount('SIGHUP') === 0) return;
    const before = (): void => this.#notifier.reloading('reloading');
    const after = (): void => this.#notifier.ready(status());
    process.prependListener('SIGHUP', before);
    process.on('SIGHUP', after);
    this.#removeReload = () => {
      process.off('SIGHUP', before);
      process.off('SIGHUP', after);
    };
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#removeReload?.();
    this.#removeReload = undefined;
  }
}

/** Whether `endpoint` serves an inetd-mode connection. */
export function isInetdEndpoint(endpoint: Endpoint): boolean {
  const option = endpoint.systemd;
  return typeof option === 'object' && !Array.isArray(option) && (option as { inetd?: boolean }).inetd === true;
}

/**
 * inetd mode: resolves once the one connection is over (its session closed, or it was refused);
 * undefined when no endpoint of `endpoints` (started as `servers`, in order) is in inetd mode.
 */
export function inetdFinished(servers: ServerSet, endpoints: readonly Endpoint[]): Promise<void> | undefined {
  const inetd = servers.endpoints.filter((_running, index) => endpoints[index] !== undefined && isInetdEndpoint(endpoints[index]));
  if (inetd.length === 0) return undefined;
  return Promise.race(inetd.map(({ tcp }) => new Promise<void>((resolve) => {
    const over = (): boolean => {
      const stats = tcp.stats();
      return stats.accepted > 0 && stats.sessions === 0 && stats.pending === 0;
    };
    if (over()) return resolve();
    tcp.on('empty', () => over() && resolve());
    tcp.once('rejected', () => resolve());
  })));
}
