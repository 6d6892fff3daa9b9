/**
 * inetd mode (`Accept=yes`): the service manager accepted the connection and started this
 * process for it alone, with the connected socket on fd 3 (`LISTEN_FDS=1`, as
 * `systemd-socket-activate -a` and systemd's own `Accept=yes` do) or on fds 0 and 1
 * (`StandardInput=socket`, `systemd-socket-activate --inetd -a`, inetd itself).
 */
import { Socket } from 'node:net';
import { IPV6_ANY } from '../net/addresses.ts';
import { readConnectionInfo, type ConnectionInfo } from '../tcp/connection-info.ts';
import { ErrorCode } from '../core/errors.ts';
import { ActivationError } from '../net/activation-error.ts';
import { LISTEN_FDS_START, UNNAMED_FD } from '../net/listen-env.ts';
import { describeListenFd, inspectListenFds, listenFds, type ListenFd, type ListenFdsOptions } from '../net/listen-fds.ts';

/** Where the connection was found. */
export type InetdOrigin = 'listen-fds' | 'stdio';

/** The one connection of an inetd-mode process. */
export interface InetdConnection {
  /** The connection, wrapped; ending or destroying it closes the fd. */
  readonly socket: Socket;
  /** Both ends (from getsockname and getpeername), as a server's session reports them: what tcp-environ needs. */
  readonly info: ConnectionInfo;
  readonly fd: number;
  /** `listen-fds`: fd 3 with `LISTEN_FDS=1`; `stdio`: fd 0 (fd 1 is the same socket). */
  readonly origin: InetdOrigin;
}

/** How to find the connection. */
export interface InetdOptions extends ListenFdsOptions {
  /** The fd of the connection. @default fd 3 when `LISTEN_FDS=1` passed a connected socket, else fd 0 */
  readonly fd?: number;
  /** Keep the writable side open after the peer's FIN (`net.Socket`'s option). @default false */
  readonly allowHalfOpen?: boolean;
}

const STDIN_FD = 0;

/**
 * Wraps the connection the service manager handed this process. Reads (and removes from
 * `process.env`) the `LISTEN_*` variables like {@link listenFds}. On fds 0/1 the socket is
 * also this process's stdout: write nothing to `process.stdout` (it would reach the peer), and
 * do not touch `process.stdin` (Node cannot wrap fd 0 twice: `EEXIST`).
 * @throws ActivationError `SWB_ERR_ACTIVATION_NO_CONNECTION` when there is no connected socket;
 *   `SWB_ERR_ACTIVATION_FD_TYPE` when the fd given is not a connected TCP socket
 * @example
 * const { socket, info } = inetdConnection();
 * socket.pipe(socket); // echo, then exit when the peer closes
 */
export function inetdConnection(options: InetdOptions = {}): InetdConnection {
  const passed = listenFds(options).fds;
  const found = options.fd === undefined ? findConnection(passed) : { fd: inspectOne(options.fd, passed), origin: originOf(options.fd) };
  const { fd, origin } = found;
  if (fd.kind !== 'unknown' && (fd.kind !== 'stream' || fd.family === 'unix' || fd.state !== 'connected')) {
    throw new ActivationError(ErrorCode.ACTIVATION_FD_TYPE, `inetd mode: ${describeListenFd(fd)} is not a connected TCP socket`, { fd: fd.fd, fdName: fd.name });
  }
  const socket = new Socket({ fd: fd.fd, readable: true, writable: true, allowHalfOpen: options.allowHalfOpen ?? false });
  const family = socket.localFamily === 'IPv4' ? 'IPv4' : 'IPv6';
  const info = readConnectionInfo(socket, { address: IPV6_ANY, port: socket.localPort ?? 0, family });
  if (info === undefined) {
    socket.destroy();
    throw new ActivationError(ErrorCode.ACTIVATION_NO_CONNECTION, `inetd mode: the peer of fd ${fd.fd} is already gone`, { fd: fd.fd });
  }
  return { socket, info, fd: fd.fd, origin };
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
