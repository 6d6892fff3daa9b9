/**
 * One owner per accepted socket at a time -- the pending stage while the connection waits on its
 * stages, then its session -- and one set of socket listeners for all of them. The listeners are
 * shared module functions that hand each event to whoever owns the socket now, so passing a
 * socket from the pending stage to its session is one field write: no listener is removed and
 * added again, and the socket keeps one shape (one symbol slot) from accept to close.
 */
import type { Socket } from 'node:net';

/** What the owner of a socket hears from it. @internal */
export interface SocketOwner {
  /** The socket reported an error; its `close` follows. */
  socketError(error: Error): void;
  /** The peer sent FIN. */
  socketEnded(): void;
  /** The socket closed. */
  socketClosed(): void;
}

const kOwner = Symbol('switchboard.socket-owner');
type OwnedSocket = Socket & { [kOwner]?: SocketOwner | undefined };

function onSocketError(this: Socket, error: Error): void {
  (this as OwnedSocket)[kOwner]!.socketError(error);
}
function onSocketEnd(this: Socket): void {
  (this as OwnedSocket)[kOwner]!.socketEnded();
}
function onSocketClose(this: Socket): void {
  (this as OwnedSocket)[kOwner]!.socketClosed();
}

/** Who owns `socket` now (see {@link takeSocket}). @internal */
export function ownerOf<O extends SocketOwner>(socket: Socket): O {
  return (socket as OwnedSocket)[kOwner] as O;
}

/**
 * Makes `owner` the owner of `socket`: from now on it hears the socket's `error`, `end` and
 * `close`. The listeners are attached the first time a socket is taken; a socket passed on from
 * one owner to the next keeps them. @internal
 */
export function takeSocket(socket: Socket, owner: SocketOwner): void {
  const owned = socket as OwnedSocket;
  if (owned[kOwner] === undefined) socket.on('error', onSocketError).on('end', onSocketEnd).on('close', onSocketClose);
  owned[kOwner] = owner;
}

/** Nobody owns `socket` any more (its owner moved to another socket: STARTTLS, a TLS stage): its listeners go. @internal */
export function releaseSocket(socket: Socket): void {
  const owned = socket as OwnedSocket;
  if (owned[kOwner] === undefined) return;
  socket.off('error', onSocketError).off('end', onSocketEnd).off('close', onSocketClose);
  owned[kOwner] = undefined;
}
