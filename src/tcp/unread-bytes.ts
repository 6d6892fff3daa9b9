/**
 * The bytes a pending stage read past its part (what followed a PROXY header in its segment),
 * kept beside the socket from the moment its session starts until they are delivered just after
 * the `open` handler (see `deliverUnread`). A `startTls()` called inside `open` takes them here:
 * they are plaintext that followed before the upgrade, so they count as pending input and the
 * upgrade refuses the connection (`SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS`), as it does for bytes
 * still in the socket's buffer. @internal
 */
import type { Socket } from 'node:net';

const unreadBySocket = new WeakMap<Socket, Buffer>();

/** Keeps `unread` for `socket` until {@link takeUnread}. @internal */
export function holdUnread(socket: Socket, unread: Buffer): void {
  if (unread.length > 0) unreadBySocket.set(socket, unread);
}

/** The bytes kept for `socket` (and forgets them), or undefined. @internal */
export function takeUnread(socket: Socket): Buffer | undefined {
  const unread = unreadBySocket.get(socket);
  if (unread !== undefined) unreadBySocket.delete(socket);
  return unread;
}
