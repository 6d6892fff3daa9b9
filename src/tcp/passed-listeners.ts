/**
 * A TCP server's listeners when the service manager passed them (the `systemd` option,
 * docs/systemd.md): adopted listening fds, or in inetd mode the one passed connection behind a
 * listener that never listens. Each listener is the server's (`take`) from its `listening`
 * event on, as a bound one is.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { BoundSocket, SocketOrigin } from '../net/listener-group.ts';
import { adoptOpenSockets, adoptPassedSockets, adoptStreamListener, inetdSocket, passedTarget, type NormalizedSystemdOption, type PassedSocketAdopter } from '../net/passed-sockets.ts';
import type { NormalizedTcpServerOptions } from './tcp-options.ts';

/** A listener, not yet listening, with the options every connection gets. @internal */
export function createListener(options: NormalizedTcpServerOptions): Server {
  return createServer({
    allowHalfOpen: true,
    noDelay: options.noDelay,
    keepAlive: options.keepAlive,
    keepAliveInitialDelay: options.keepAliveInitialDelay,
    ...(options.limits.highWaterMark === undefined ? {} : { highWaterMark: options.limits.highWaterMark }),
  });
}

/**
 * Adopts the passed listening fds `systemd` asks for, all or nothing (`release` gives back
 * those adopted when a later one fails).
 * @throws {ActivationError} (rejects) see `adoptPassedSockets`
 */
export function adoptPassedListeners(
  options: NormalizedTcpServerOptions,
  systemd: NormalizedSystemdOption,
  take: (listener: BoundSocket<Server>) => void,
  release: (handle: Server) => Promise<void>,
): Promise<BoundSocket<Server>[]> {
  return adoptPassedSockets(systemd, 'tcp', listenerAdopter(options, 'systemd', take, release));
}

/**
 * Adopts the listening fds of the `fds` option (already open in this process), all or nothing.
 * @throws {ActivationError} (rejects) see `adoptOpenSockets`
 */
export function adoptOpenListeners(
  options: NormalizedTcpServerOptions,
  fds: readonly number[],
  take: (listener: BoundSocket<Server>) => void,
  release: (handle: Server) => Promise<void>,
): Promise<BoundSocket<Server>[]> {
  return adoptOpenSockets(fds, 'tcp', listenerAdopter(options, 'passed', take, release));
}

function listenerAdopter(options: NormalizedTcpServerOptions, origin: SocketOrigin, take: (listener: BoundSocket<Server>) => void, release: (handle: Server) => Promise<void>): PassedSocketAdopter<Server> {
  return {
    adopt: async (fd) => {
      const handle = createListener(options);
      const address = await adoptStreamListener(handle, fd, (bound) => take({ handle, target: passedTarget(bound), address: bound }), origin);
      return { handle, address };
    },
    close: release,
  };
}

/** inetd mode's listener: `serve()` hands it the connection once the server serves; `abandon()` closes the connection unserved. @internal */
export interface InetdListener {
  readonly bound: BoundSocket<Server>[];
  serve(): void;
  abandon(): void;
}

/**
 * inetd mode (`systemd: { inetd: true }`): the passed connection, behind a listener that never
 * listens, from whose `connection` event the server serves it as any other.
 * @throws {ActivationError} `SWB_ERR_ACTIVATION_NO_CONNECTION`, `SWB_ERR_ACTIVATION_FD_TYPE`
 */
export function inetdListener(options: NormalizedTcpServerOptions, systemd: NormalizedSystemdOption, take: (listener: BoundSocket<Server>) => void): InetdListener {
  const { socket, address } = inetdSocket(systemd);
  const listener = { handle: createListener(options), target: passedTarget(address), address };
  take(listener);
  let pending: Socket | undefined = socket;
  return {
    bound: [listener],
    serve() {
      if (pending !== undefined) listener.handle.emit('connection', pending);
      pending = undefined;
    },
    abandon() {
      pending?.destroy();
      pending = undefined;
    },
  };
}
