/**
 * The bytes a pending stage read past its part (what followed a PROXY header in its segment),
 * kept beside the socket from the moment its session starts until they are delivered just after
 * the `open` handler (see `deliverUnread`). A `startTls()` called inside `open` takes them here:
 * they are plaintext that followed before the upgrade, so they count as pending input and the
 * upgrade refuses the connection (`SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS`), as it does for bytes
 * still in the socket's buffer. @internal
 */
import type { Socket } from 'node:net';

// The hold spans one synchronous call (the server's open: the session starts, then the bytes are
// delivered), so one slot is enough, and no connection leaves an entry in a table for the GC.
let heldSocket: Socket | undefined;
let heldBytes: Buffer | undefined;

/** Keeps `unread` for `socket` until {@link takeUnread}. @internal */
export function holdUnread(socket: Socket, unread: Buffer): void {
  if (unread.length === 0) return;
  heldSocket = socket;
  heldBytes = unread;
}

/** The bytes kept for `socket` (and forgets them), or undefined. @internal */
export function takeUnread(socket: Socket): Buffer | undefined {
  if (heldSocket !== socket) return undefined;
  const unread = heldBytes;
  heldSocket = undefined;
  heldBytes = undefined;
  return unread;
}

/**
 * Hands a started session the bytes a pending stage read past its part (what followed the PROXY
 * header in its segment), as if the socket had just read them: with the socket flowing, nothing
 * buffered and its reader attached they are the session's first `data`, emitted now (after the
 * `open` handler, before any later byte) -- what the stream itself does with a chunk in that
 * state, without the copy of the view `unshift()` makes; otherwise (the session holds reading:
 * an async `open` handler, a pause) they wait at the front of the socket's buffer (`unshift`).
 * Nothing is delivered to a destroyed socket, or after a `startTls()` in `open` took them
 * (see {@link takeUnread}). The server holds them with {@link holdUnread} before the session starts. @internal
 */
export function deliverUnread(socket: Socket): void {
  const unread = takeUnread(socket); // none when a `startTls()` in `open` took them, or it had none
  if (unread === undefined || socket.destroyed) return;
  if (socket.readableFlowing === true && socket.readableLength === 0 && socket.listenerCount('data') > 0) socket.emit('data', unread);
  else socket.unshift(unread);
}
