/**
 * The servers' `systemd` option: which sockets the service manager passed (docs/systemd.md) a
 * server adopts instead of binding, checked at construction, selected and type-checked before
 * any of them is touched, and adopted all or nothing like a bound group.
 */
import { Socket, type Server } from 'node:net';
import { ErrorCode, InvalidOptionError, type Transport } from '../core/errors.ts';
import type { ListenTarget } from './addresses.ts';
import { ActivationError } from './activation-error.ts';
import { LISTEN_FDS_START, UNNAMED_FD, type ListenEnvironment } from './listen-env.ts';
import { adoptStreamFd, assertAdoptable, describeListenFd, findInetdFd, inspectListenFds, listenFds, selectListenFds, type AdoptedAddress, type ListenFd, type ListenFdSet } from './listen-fds.ts';
import type { BoundAddress, BoundSocket, SocketOrigin } from './listener-group.ts';

/**
 * Which passed sockets a server serves: `true` for every one of its transport (stream fds for
 * TCP, datagram fds for UDP), a name or names (`FileDescriptorName=`, `--fdname`) for every fd
 * of those names, or an object for the protocol's finer points.
 */
export type SystemdListenOption = true | string | readonly string[] | SystemdListenOptions;

/** The object form of {@link SystemdListenOption}. */
export interface SystemdListenOptions {
  /** The fd names to adopt; every fd of each. @default every fd of the server's transport */
  readonly names?: string | readonly string[];
  /** The fds to adopt, by number (3, 4, ...), instead of by name; each must have been passed. */
  readonly fds?: readonly number[];
  /**
   * TCP only: inetd mode (`Accept=yes`). Serve the one connection the manager accepted for this
   * process -- fd 3 when `LISTEN_FDS=1` passed a connected socket, else fds 0/1
   * (`StandardInput=socket`) -- as the server's one session; it listens on nothing. Close the
   * server when it is `empty` (or `rejected` it).
   * @default false
   */
  readonly inetd?: boolean;
  /** Accept `LISTEN_FDS` without `LISTEN_PID` (systemfd, catflap). @default false */
  readonly allowMissingPid?: boolean;
  /** The variables to read instead of this process's (read once, then removed from `process.env`). */
  readonly env?: ListenEnvironment;
}

/** The option after checking. @internal */
export interface NormalizedSystemdOption {
  readonly names: readonly string[] | undefined;
  readonly fds: readonly number[] | undefined;
  readonly inetd: boolean;
  readonly allowMissingPid: boolean;
  readonly env: ListenEnvironment | undefined;
}

const SYSTEMD_KEYS: ReadonlySet<string> = new Set(['names', 'fds', 'inetd', 'allowMissingPid', 'env']);

/**
 * Checks the `systemd` option; undefined when it is absent (or `false`).
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming `systemd` and what is wrong
 */
export function normalizeSystemdOption(value: unknown, hostOrPort: boolean): NormalizedSystemdOption | undefined {
  if (value === undefined || value === false) return undefined;
  if (hostOrPort) throw new InvalidOptionError('systemd', 'must not be given together with `host` or `port`: the service manager chose the addresses (start a second server for others)', value);
  if (value === true) return { names: undefined, fds: undefined, inetd: false, allowMissingPid: false, env: undefined };
  if (typeof value === 'string' || Array.isArray(value)) return { names: namesOption(value), fds: undefined, inetd: false, allowMissingPid: false, env: undefined };
  if (typeof value !== 'object' || value === null) throw new InvalidOptionError('systemd', 'must be true, an fd name, an array of fd names, or { names, fds, inetd, allowMissingPid, env }', value);
  const unknown = Object.keys(value).find((key) => !SYSTEMD_KEYS.has(key));
  if (unknown !== undefined) throw new InvalidOptionError(`systemd.${unknown}`, 'is not an option of `systemd` (names, fds, inetd, allowMissingPid, env)', (value as Record<string, unknown>)[unknown]);
  const options = value as SystemdListenOptions;
  if (options.allowMissingPid !== undefined && typeof options.allowMissingPid !== 'boolean') throw new InvalidOptionError('systemd.allowMissingPid', 'must be a boolean', options.allowMissingPid);
  if (options.env !== undefined && (typeof options.env !== 'object' || options.env === null)) throw new InvalidOptionError('systemd.env', 'must be an object of LISTEN_* variables', options.env);
  if (options.inetd !== undefined && typeof options.inetd !== 'boolean') throw new InvalidOptionError('systemd.inetd', 'must be a boolean', options.inetd);
  const fds = options.fds === undefined ? undefined : fdsOption(options.fds);
  if ([options.names !== undefined, fds !== undefined, options.inetd === true].filter(Boolean).length > 1) {
    throw new InvalidOptionError('systemd', 'takes one of `names`, `fds` and `inetd`', value);
  }
  return { names: options.names === undefined ? undefined : namesOption(options.names), fds, inetd: options.inetd ?? false, allowMissingPid: options.allowMissingPid ?? false, env: options.env };
}

function namesOption(value: unknown): readonly string[] {
  const names = typeof value === 'string' ? [value] : value;
  const valid = Array.isArray(names) && names.length > 0 && names.every((name) => typeof name === 'string' && /^[^\s:]{1,255}$/.test(name));
  if (!valid) throw new InvalidOptionError('systemd', 'fd names must be non-empty strings without `:` or white space (at least one)', value);
  return [...(names as string[])];
}

function fdsOption(value: unknown): readonly number[] {
  const valid = Array.isArray(value) && value.length > 0 && value.every((fd) => Number.isInteger(fd) && fd >= LISTEN_FDS_START && fd < 2 ** 31);
  if (!valid) throw new InvalidOptionError('systemd.fds', `must be a non-empty array of fd numbers from ${LISTEN_FDS_START}`, value);
  return [...(value as number[])];
}

/** How a transport adopts one passed fd and closes what it adopted. */
export interface PassedSocketAdopter<Handle> {
  /** Adopts `fd`; the server takes the handle before this resolves, as with a `SocketBinder`'s `bind`. */
  adopt(fd: ListenFd): Promise<{ handle: Handle; address: BoundAddress }>;
  close(handle: Handle): Promise<void>;
}

/**
 * Selects the fds `option` names for `transport` (every one checked before any is touched),
 * then adopts them in order; on a failure the ones adopted are closed and the error rethrown.
 * @throws {ActivationError} (rejects) `SWB_ERR_ACTIVATION_NO_SOCKETS`, `SWB_ERR_ACTIVATION_NAME_NOT_FOUND`,
 *   `SWB_ERR_ACTIVATION_FD_TYPE`, `SWB_ERR_ACTIVATION_FD_TAKEN`, `SWB_ERR_ACTIVATION_BAD_ENVIRONMENT`
 */
export async function adoptPassedSockets<Handle>(option: NormalizedSystemdOption, transport: Transport, adopter: PassedSocketAdopter<Handle>): Promise<BoundSocket<Handle>[]> {
  return adoptEach(selectPassedSockets(option, transport), adopter);
}

/**
 * The passed fds `option` names for `transport`, each checked before any is touched (what
 * {@link adoptPassedSockets} adopts; a primary that hands them on to workers holds them so).
 * @throws {ActivationError} as {@link adoptPassedSockets}
 */
export function selectPassedSockets(option: NormalizedSystemdOption, transport: Transport): ListenFd[] {
  const set = listenFds({ allowMissingPid: option.allowMissingPid, ...(option.env === undefined ? {} : { env: option.env }) });
  return option.fds === undefined ? selectListenFds(set, { transport, names: option.names }) : selectByNumber(set, option.fds, transport);
}

/**
 * The `fds` option of the servers: already-bound sockets open in this process, by number (an
 * upgrade's predecessor or a supervisor passed them, or the caller made them), each checked
 * before any is touched and adopted all or nothing as {@link adoptPassedSockets} does.
 * @throws {ActivationError} (rejects) `SWB_ERR_ACTIVATION_FD_TYPE` for an fd that is not open, not a socket, or of the wrong kind
 */
export async function adoptOpenSockets<Handle>(fds: readonly number[], transport: Transport, adopter: PassedSocketAdopter<Handle>): Promise<BoundSocket<Handle>[]> {
  // Not /proc/net/tcp: on a busy host it lists every TIME_WAIT connection and takes seconds to
  // read; a TCP fd of the wrong kind fails coded in listen() instead. The UDP tables are short.
  const chosen = inspectListenFds(
    fds.map((fd) => ({ fd, name: UNNAMED_FD })),
    transport === 'udp' ? ['udp', 'udp6'] : [],
  );
  for (const fd of chosen) assertAdoptable(fd, transport);
  return adoptEach(chosen, adopter);
}

/**
 * Checks the `fds` option: a non-empty array of fd numbers, not with the options that choose
 * what to bind; undefined when absent.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming `fds`
 */
export function normalizeFdsOption(value: unknown, conflicting: string | undefined): readonly number[] | undefined {
  if (value === undefined) return undefined;
  if (conflicting !== undefined) throw new InvalidOptionError('fds', `must not be given together with \`${conflicting}\`: the sockets are already bound`, value);
  const valid = Array.isArray(value) && value.length > 0 && value.every((fd) => Number.isInteger(fd) && fd >= 0 && fd < 2 ** 31) && new Set(value).size === value.length;
  if (!valid) throw new InvalidOptionError('fds', 'must be a non-empty array of distinct fd numbers', value);
  return [...(value as number[])];
}

async function adoptEach<Handle>(chosen: readonly ListenFd[], adopter: PassedSocketAdopter<Handle>): Promise<BoundSocket<Handle>[]> {
  const adopted: BoundSocket<Handle>[] = [];
  try {
    for (const fd of chosen) {
      const { handle, address } = await adopter.adopt(fd);
      adopted.push({ handle, address, target: passedTarget(address) });
    }
  } catch (error) {
    await Promise.all(adopted.map((socket) => adopter.close(socket.handle)));
    throw error;
  }
  return adopted;
}

function selectByNumber(set: ListenFdSet, fds: readonly number[], transport: Transport): ListenFd[] {
  return fds.map((number) => {
    const fd = set.fds.find((passed) => passed.fd === number);
    if (fd === undefined) {
      const passed = set.fds.length === 0 ? `none were: ${set.reason ?? 'LISTEN_FDS=0'}` : `the passed fds are ${set.fds.map((entry) => entry.fd).join(', ')}`;
      throw new ActivationError(ErrorCode.ACTIVATION_NO_SOCKETS, `socket activation: fd ${number} was not passed to this process (${passed})`, { fd: number });
    }
    assertAdoptable(fd, transport);
    return fd;
  });
}

/**
 * The connection of an inetd-mode TCP server: the passed connected socket wrapped as a
 * `net.Socket` (half-open allowed, as a listener's connections), and the local address it
 * reports, with `origin: 'systemd'`.
 * @throws {ActivationError} `SWB_ERR_ACTIVATION_NO_CONNECTION`, `SWB_ERR_ACTIVATION_FD_TYPE`
 */
export function inetdSocket(option: NormalizedSystemdOption): { address: BoundAddress; socket: Socket } {
  const { fd } = findInetdFd({ allowMissingPid: option.allowMissingPid, ...(option.env === undefined ? {} : { env: option.env }) });
  const socket = new Socket({ fd: fd.fd, readable: true, writable: true, allowHalfOpen: true });
  const family = socket.localFamily === 'IPv6' ? 'IPv6' : 'IPv4';
  const address = passedBoundAddress({ fd: fd.fd, name: fd.name, transport: 'tcp', family, address: socket.localAddress ?? fd.address ?? '', port: socket.localPort ?? fd.port ?? 0 });
  return { address, socket };
}

/**
 * Makes `server` listen on the passed stream fd, calling `take` inside its `listening` event
 * (before any connection can arrive) with the address `server.addresses` reports.
 * @throws {ActivationError} (rejects) as {@link adoptStreamFd}; `SWB_ERR_ACTIVATION_FD_TYPE` for a unix socket
 */
export async function adoptStreamListener(server: Server, fd: ListenFd, take: (address: BoundAddress) => void, origin: SocketOrigin = 'systemd'): Promise<BoundAddress> {
  let taken: BoundAddress | undefined;
  server.once('listening', () => {
    const bound = server.address();
    if (bound === null || typeof bound !== 'object') return;
    taken = passedBoundAddress({ fd: fd.fd, name: fd.name, transport: 'tcp', family: bound.family === 'IPv6' ? 'IPv6' : 'IPv4', address: bound.address, port: bound.port }, origin);
    take(taken);
  });
  const adopted = await adoptStreamFd(server, fd);
  if (taken === undefined || adopted.family === 'unix') {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw new ActivationError(ErrorCode.ACTIVATION_FD_TYPE, `socket activation: ${describeListenFd(fd)} is a unix socket; the TCP server serves IP sockets`, { fd: fd.fd, fdName: fd.name });
  }
  return taken;
}

/** The address a passed socket reports: its bound address plus its `origin` (`systemd` unless told), the fd and its name. */
export function passedBoundAddress(adopted: AdoptedAddress, origin: SocketOrigin = 'systemd'): BoundAddress {
  const family = adopted.family === 'IPv6' ? 'IPv6' : 'IPv4';
  return { address: adopted.address, port: adopted.port, family, transport: adopted.transport, origin, fd: adopted.fd, fdName: adopted.name };
}

/** The listen target a passed socket stands for (its own address), for what a bound socket carries. */
export function passedTarget(address: BoundAddress): ListenTarget {
  // A passed IPv6 socket may be dual-stack (BindIPv6Only=both): unmap what it reports.
  return { host: address.address, family: address.family, ipv6Only: false, requested: `${address.origin ?? 'systemd'} fd ${address.fd}`, literal: true };
}
