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
import { findInetdFd, type InetdOrigin, type ListenFdsOptions } from '../net/listen-fds.ts';

export type { InetdOrigin } from '../net/listen-fds.ts';

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

/**
 * Wraps the connection the service manager handed this process. Reads (and removes from
 * `process.env`) the `LISTEN_*` variables like `listenFds`. On fds 0/1 the socket is
 * also this process's stdout: write nothing to `process.stdout` (it would reach the peer), and
 * do not touch `process.stdin` (Node cannot wrap fd 0 twice: `EEXIST`).
 * @throws ActivationError `SWB_ERR_ACTIVATION_NO_CONNECTION` when there is no connected socket;
 *   `SWB_ERR_ACTIVATION_FD_TYPE` when the fd given is not a connected TCP socket
 * @example
 * const { socket, info } = inetdConnection();
 * socket.pipe(socket); // echo, then exit when the peer closes
 */
export function inetdConnection(options: InetdOptions = {}): InetdConnection {
  const { fd, origin } = findInetdFd(options);
  const socket = new Socket({ fd: fd.fd, readable: true, writable: true, allowHalfOpen: options.allowHalfOpen ?? false });
  const family = socket.localFamily === 'IPv4' ? 'IPv4' : 'IPv6';
  const info = readConnectionInfo(socket, { address: IPV6_ANY, port: socket.localPort ?? 0, family });
  if (info === undefined) {
    socket.destroy();
    throw new ActivationError(ErrorCode.ACTIVATION_NO_CONNECTION, `inetd mode: the peer of fd ${fd.fd} is already gone`, { fd: fd.fd });
  }
  return { socket, info, fd: fd.fd, origin };
}
