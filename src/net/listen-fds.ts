/**
 * Socket activation: the listening sockets a service manager (systemd, systemd-socket-activate,
 * s6, systemfd) passed this process, what each one is, which of them a server asked for, and
 * how a `net.Server` or a `dgram.Socket` adopts one. See docs/systemd.md.
 */
import type { Socket as DatagramSocket, SocketType } from 'node:dgram';
import type { EventEmitter } from 'node:events';
import type { Server } from 'node:net';
import { ErrorCode, formatHostPort, type Transport } from '../core/errors.ts';
import { ActivationError } from './activation-error.ts';
import { LISTEN_FDS_START, UNNAMED_FD, parseListenEnvironment, takeListenEnvironment, type ListenEnvironment, type ListenEnvironmentOptions, type ListenFdEntry } from './listen-env.ts';
import { inspectFds, type FdInspection, type ProcTable, type SocketFamily, type SocketKind, type SocketState } from './proc-sockets.ts';

/** What a passed fd is: a socket type, or why it is none Switchboard can tell. */
export type ListenFdKind = SocketKind | 'unknown' | 'not-socket' | 'closed';

/** One fd the service manager passed, and what it is. */
export interface ListenFd {
  readonly fd: number;
  /** Its name (`FileDescriptorName=`, `--fdname`); `unknown` when the manager gave none. */
  readonly name: string;
  /**
   * `stream`, `datagram` or `seqpacket` when /proc tells (Linux, a socket of this network
   * namespace); `unknown` for a socket it does not list (then the type is checked on adoption);
   * `not-socket` or `closed` otherwise.
   */
  readonly kind: ListenFdKind;
  readonly family: SocketFamily | undefined;
  /** The bound IP address, or the unix path; undefined when not known. */
  readonly address: string | undefined;
  readonly port: number | undefined;
  /** `listening` for a listener; `connected` for an `Accept=yes` connection; undefined when not known. */
  readonly state: SocketState | undefined;
  /** FD_CLOEXEC is set, so no exec'd child inherits the fd; undefined when not known. */
  readonly closeOnExec: boolean | undefined;
}

/** The passed fds of this process. */
export interface ListenFdSet {
  readonly fds: readonly ListenFd[];
  /** Why `fds` is empty (`LISTEN_FDS is not set`, `LISTEN_PID=41 is another process (this is 42)`); undefined when it is not. */
  readonly reason: string | undefined;
}

/** Which passed fds a server wants. */
export interface ListenFdSelection {
  /** `tcp` wants listening IP stream sockets, `udp` datagram IP sockets. */
  readonly transport: Transport;
  /**
   * The fd names to take, each with every fd of that name. Omitted: every fd of the
   * transport's kind, the others left alone.
   */
  readonly names?: string | readonly string[] | undefined;
}

/** The address an adopted socket is bound to. */
export interface AdoptedAddress {
  readonly fd: number;
  readonly name: string;
  readonly transport: Transport;
  readonly family: SocketFamily;
  /** The IP address, or the unix path. */
  readonly address: string;
  /** The port; 0 for a unix socket. */
  readonly port: number;
}

/** How to read the passed fds: {@link ListenEnvironmentOptions}, plus the environment to read. */
export interface ListenFdsOptions extends ListenEnvironmentOptions {
  /** The variables to read instead of this process's (which are read once, then removed from `process.env`). */
  readonly env?: ListenEnvironment;
  /** The pid `LISTEN_PID` must name. @default process.pid */
  readonly pid?: number;
}

const adopted = new Set<number>();

/**
 * The fds passed to this process and what each is, read without touching any of them. The
 * first call reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` and removes them from
 * `process.env` (children never see them); later calls read the same values again.
 * @throws ActivationError `SWB_ERR_ACTIVATION_BAD_ENVIRONMENT` when the variables meant for this process are malformed
 * @example
 * const { fds } = listenFds();
 * for (const { fd, name, kind, address, port } of fds) console.log(fd, name, kind, address, port);
 */
export function listenFds(options: ListenFdsOptions = {}): ListenFdSet {
  const env = options.env ?? takeListenEnvironment();
  const { entries, reason } = parseListenEnvironment(env, options.pid ?? process.pid, options);
  return { fds: inspectListenFds(entries), reason };
}

/**
 * What each of `entries` is, read without touching it (see {@link inspectFds}); only `tables` of
 * /proc/net are read when given (a socket in none of them is of kind `unknown`).
 * @example
 * inspectListenFds([{ fd: 0, name: 'stdin' }])[0].kind; // 'stream' when stdin is a TCP connection
 */
export function inspectListenFds(entries: readonly ListenFdEntry[], tables?: readonly ProcTable[]): ListenFd[] {
  const inspected = inspectFds(
    entries.map((entry) => entry.fd),
    tables === undefined ? {} : { tables },
  );
  return entries.map((entry) => describeFd(entry.fd, entry.name, inspected.get(entry.fd)!));
}

/**
 * The fds of `set` that `selection` asks for, each checked to be of the transport's kind before
 * any of them is touched.
 * @throws ActivationError `SWB_ERR_ACTIVATION_NO_SOCKETS` when nothing was passed (or nothing of the transport's kind, unnamed);
 *   `SWB_ERR_ACTIVATION_NAME_NOT_FOUND` for a name no fd has; `SWB_ERR_ACTIVATION_FD_TYPE` for a named fd of the wrong kind
 * @example
 * selectListenFds(listenFds(), { transport: 'tcp', names: 'echo' }); // every fd named echo, all TCP listeners
 */
export function selectListenFds(set: ListenFdSet, selection: ListenFdSelection): ListenFd[] {
  const { transport } = selection;
  if (set.fds.length === 0) {
    throw new ActivationError(ErrorCode.ACTIVATION_NO_SOCKETS, `socket activation: no sockets were passed to this process: ${set.reason ?? 'LISTEN_FDS=0'}`);
  }
  if (selection.names === undefined) {
    const chosen = set.fds.filter((fd) => fitsUnnamed(fd, transport));
    if (chosen.length === 0) {
      const passed = set.fds.map(describeListenFd).join(', ');
      throw new ActivationError(ErrorCode.ACTIVATION_NO_SOCKETS, `socket activation: none of the passed fds is a ${transportKind(transport)} (${passed})`);
    }
    return chosen;
  }
  const names = typeof selection.names === 'string' ? [selection.names] : [...selection.names];
  const chosen: ListenFd[] = [];
  for (const name of names) {
    const named = set.fds.filter((fd) => fd.name === name);
    if (named.length === 0) {
      const known = [...new Set(set.fds.map((fd) => fd.name))].join(', ');
      throw new ActivationError(ErrorCode.ACTIVATION_NAME_NOT_FOUND, `socket activation: no passed fd is named ${JSON.stringify(name)} (the names are: ${known})`, { fdName: name });
    }
    for (const fd of named) {
      assertAdoptable(fd, transport);
      if (!chosen.includes(fd)) chosen.push(fd);
    }
  }
  return chosen;
}

/**
 * Throws unless `fd` can serve `transport`, as far as is known without touching it: a
 * datagram fd for TCP, a stream fd for UDP, a connected socket for a listener, a unix or
 * SEQPACKET socket, or no socket at all, are each an error naming the fd and its name.
 * @throws ActivationError `SWB_ERR_ACTIVATION_FD_TYPE`
 */
export function assertAdoptable(fd: ListenFd, transport: Transport): void {
  const problem = typeProblem(fd, transport);
  if (problem !== undefined) throw new ActivationError(ErrorCode.ACTIVATION_FD_TYPE, `socket activation: ${describeListenFd(fd)} ${problem}`, { fd: fd.fd, fdName: fd.name });
}

/**
 * The `dgram` socket type for adopting `fd`: `udp6` for an IPv6 socket, else `udp4` (also when
 * the family is not known: then only the reported `address()` family may differ).
 */
export function datagramTypeOf(fd: ListenFd): SocketType {
  return fd.family === 'IPv6' ? 'udp6' : 'udp4';
}

/**
 * Makes `server` listen on the passed stream fd; resolves with the bound address. Closing the
 * server closes the fd (it was given to this process to serve). An fd of the wrong kind is
 * refused before it is touched; one whose kind /proc did not tell fails in `listen`, and that
 * `EINVAL` becomes the same coded error.
 * @throws ActivationError (a rejection) `SWB_ERR_ACTIVATION_FD_TYPE`, `SWB_ERR_ACTIVATION_FD_TAKEN`: before the fd is touched where /proc told its kind
 * @example
 * const server = net.createServer(onConnection);
 * const bound = await adoptStreamFd(server, selectListenFds(listenFds(), { transport: 'tcp', names: 'echo' })[0]);
 */
export async function adoptStreamFd(server: Server, fd: ListenFd): Promise<AdoptedAddress> {
  claim(fd, 'tcp');
  // The fd stays claimed after a failure: Node may have wrapped and closed it (a listen(2)
  // that failed), and a number once closed may name an unrelated file next.
  await untilListening(server, () => server.listen({ fd: fd.fd })).catch((error: NodeJS.ErrnoException) => {
    throw adoptionFailure(fd, 'tcp', error);
  });
  const bound = server.address();
  if (bound !== null && typeof bound === 'object') return adoptedAddress(fd, 'tcp', bound.family === 'IPv6' ? 'IPv6' : 'IPv4', bound.address, bound.port);
  return adoptedAddress(fd, 'tcp', 'unix', fd.address ?? '', 0);
}

/**
 * Makes `socket` (created with {@link datagramTypeOf}) receive on the passed datagram fd;
 * resolves with the bound address. Closing the socket closes the fd.
 * @throws ActivationError (a rejection) `SWB_ERR_ACTIVATION_FD_TYPE`, `SWB_ERR_ACTIVATION_FD_TAKEN`: before the fd is touched where /proc told its kind
 * @example
 * const fd = selectListenFds(listenFds(), { transport: 'udp' })[0];
 * const socket = dgram.createSocket(datagramTypeOf(fd));
 * await adoptDatagramFd(socket, fd);
 */
export async function adoptDatagramFd(socket: DatagramSocket, fd: ListenFd): Promise<AdoptedAddress> {
  claim(fd, 'udp');
  await untilListening(socket, () => socket.bind({ fd: fd.fd })).catch((error: NodeJS.ErrnoException) => {
    // Node checks the handle type first (ERR_INVALID_FD_TYPE) and throws before wrapping the
    // fd, which is then still untouched and free to adopt.
    if (error.code === 'ERR_INVALID_FD_TYPE') adopted.delete(fd.fd);
    throw adoptionFailure(fd, 'udp', error);
  });
  const bound = socket.address();
  return adoptedAddress(fd, 'udp', bound.family === 'IPv6' ? 'IPv6' : 'IPv4', bound.address, bound.port);
}

/** Runs `start` and settles at the target's first `listening` or `error`, whether `start` throws or emits. */
function untilListening(target: EventEmitter, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      target.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      target.off('error', onError);
      resolve();
    };
    target.once('error', onError);
    target.once('listening', onListening);
    try {
      start();
    } catch (error) {
      onError(error as Error);
      target.off('error', onError);
    }
  });
}

/** Where an inetd-mode connection was found. */
export type InetdOrigin = 'listen-fds' | 'stdio';

const STDIN_FD = 0;

/**
 * The connected socket of an inetd-mode process (`Accept=yes`): fd 3 when `LISTEN_FDS=1`
 * passed a connected socket, else fd 0 (`StandardInput=socket`, `--inetd`); or the fd given.
 * Reads it without touching it.
 * @throws ActivationError `SWB_ERR_ACTIVATION_NO_CONNECTION` when there is no connected socket;
 *   `SWB_ERR_ACTIVATION_FD_TYPE` when the fd is not a connected TCP socket
 */
export function findInetdFd(options: ListenFdsOptions & { readonly fd?: number | undefined } = {}): { fd: ListenFd; origin: InetdOrigin } {
  const passed = listenFds(options).fds;
  const found = options.fd === undefined ? findConnection(passed) : { fd: inspectOne(options.fd, passed), origin: originOf(options.fd) };
  const { fd } = found;
  if (fd.kind !== 'unknown' && (fd.kind !== 'stream' || fd.family === 'unix' || fd.state !== 'connected')) {
    throw new ActivationError(ErrorCode.ACTIVATION_FD_TYPE, `inetd mode: ${describeListenFd(fd)} is not a connected TCP socket`, { fd: fd.fd, fdName: fd.name });
  }
  return found;
}

function findConnection(passed: readonly ListenFd[]): { fd: ListenFd; origin: InetdOrigin } {
  const [only] = passed;
  if (passed.length === 1 && only !== undefined && only.state === 'connected') return { fd: only, origin: 'listen-fds' };
  const stdin = inspectOne(STDIN_FD, passed);
  if (stdin.kind === 'unknown' || (stdin.kind === 'stream' && stdin.state === 'connected')) return { fd: stdin, origin: 'stdio' };
  const sawFds = passed.length === 0 ? 'no LISTEN_FDS' : `LISTEN_FDS passed ${passed.map(describeListenFd).join(', ')}`;
  throw new ActivationError(ErrorCode.ACTIVATION_NO_CONNECTION, `inetd mode: no connected socket: ${sawFds}, and fd 0 is ${stdin.kind === 'stream' ? 'a listener' : `not a connected socket (${stdin.kind})`}`);
}

function inspectOne(fd: number, passed: readonly ListenFd[]): ListenFd {
  return passed.find((entry) => entry.fd === fd) ?? inspectListenFds([{ fd, name: UNNAMED_FD }])[0]!;
}

function originOf(fd: number): InetdOrigin {
  return fd >= LISTEN_FDS_START ? 'listen-fds' : 'stdio';
}

/** `fd 5 "echo-udp" (udp 127.0.0.1:7)`: how messages name a passed fd. */
export function describeListenFd(fd: ListenFd): string {
  const what = fd.kind === 'stream' ? 'tcp' : fd.kind === 'datagram' ? 'udp' : fd.kind;
  const family = fd.family === 'unix' ? `unix ${what}` : what;
  const where = fd.address === undefined ? '' : ` ${fd.family === 'unix' ? fd.address || '(unnamed)' : formatHostPort(fd.address, fd.port)}`;
  const state = fd.state === 'connected' ? ', connected' : '';
  return `fd ${fd.fd} ${JSON.stringify(fd.name)} (${family}${where}${state})`;
}

function describeFd(fd: number, name: string, inspection: FdInspection): ListenFd {
  const kind: ListenFdKind = !inspection.open ? 'closed' : inspection.socket === false ? 'not-socket' : (inspection.details?.kind ?? 'unknown');
  const details = inspection.details;
  return { fd, name, kind, family: details?.family, address: details?.address, port: details?.port, state: details?.state, closeOnExec: inspection.closeOnExec };
}

function fitsUnnamed(fd: ListenFd, transport: Transport): boolean {
  if (fd.kind === 'unknown') return transport === 'tcp'; // the common case; a datagram fd then fails coded in listen
  return typeProblem(fd, transport) === undefined;
}

function typeProblem(fd: ListenFd, transport: Transport): string | undefined {
  if (fd.kind === 'closed') return 'is not open';
  if (fd.kind === 'not-socket') return 'is not a socket';
  if (fd.kind === 'unknown') return undefined;
  const wanted = transport === 'tcp' ? 'stream' : 'datagram';
  if (fd.kind !== wanted) return `is a ${fd.kind} socket, not a ${transportKind(transport)}`;
  if (fd.family === 'unix') return `is a unix socket; the ${transport.toUpperCase()} server serves IP sockets`;
  if (transport === 'tcp' && fd.state === 'connected') return 'is a connected socket (Accept=yes), not a listener: serve it in inetd mode';
  return undefined;
}

function transportKind(transport: Transport): string {
  return transport === 'tcp' ? 'stream (TCP) listener' : 'datagram (UDP) socket';
}

function claim(fd: ListenFd, transport: Transport): void {
  assertAdoptable(fd, transport);
  if (adopted.has(fd.fd)) {
    throw new ActivationError(ErrorCode.ACTIVATION_FD_TAKEN, `socket activation: ${describeListenFd(fd)} was already given to another server of this process`, { fd: fd.fd, fdName: fd.name });
  }
  adopted.add(fd.fd);
}

function adoptionFailure(fd: ListenFd, transport: Transport, error: NodeJS.ErrnoException): ActivationError {
  // listen({ fd }) reports EINVAL for an fd Node will not wrap as a stream (a datagram fd, a
  // connected socket); bind({ fd }) throws ERR_INVALID_FD_TYPE for anything but UDP.
  if (error.code === 'EINVAL' || error.code === 'ERR_INVALID_FD_TYPE') {
    const reason = `is not a ${transportKind(transport)} (${error.code}${error.code === 'EINVAL' ? ': a datagram or connected socket?' : ''})`;
    return new ActivationError(ErrorCode.ACTIVATION_FD_TYPE, `socket activation: ${describeListenFd(fd)} ${reason}`, { fd: fd.fd, fdName: fd.name, cause: error });
  }
  return new ActivationError(ErrorCode.SOCKET, `socket activation: adopting ${describeListenFd(fd)} failed: ${error.message}`, { fd: fd.fd, fdName: fd.name, cause: error });
}

function adoptedAddress(fd: ListenFd, transport: Transport, family: SocketFamily, address: string, port: number): AdoptedAddress {
  return { fd: fd.fd, name: fd.name, transport, family, address, port };
}
