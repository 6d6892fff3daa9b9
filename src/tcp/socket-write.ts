/**
 * Queuing what a session's `write()` takes -- bytes, a string, or several buffers at once -- on its
 * socket, the cheaper way for the size: measured on loopback (Node 24), one `Buffer.concat` beats
 * `cork()`/`uncork()` by 10-30 % up to about 1 KiB in all, and copying loses beyond (2.4 times
 * slower for a 256 KiB payload behind a 4-byte header). On a socket already corked (a framed
 * session decoding a chunk, coalesced writes) the pieces are queued as they are: they leave in
 * the same writev either way, and copying would only cost.
 */
import type { Socket } from 'node:net';

/** What a session's `write()` accepts: several buffers are written as one, in order. */
export type WriteData = string | Uint8Array | readonly Uint8Array[];

/** Up to this many bytes in all, several buffers are copied into one; above it they are written corked. */
const COPY_LIMIT = 1024;

/** Queues `data` on `socket`; returns what `socket.write` returns for its last piece (false: above the watermark). */
export function writeData(socket: Socket, data: WriteData): boolean {
  if (typeof data === 'string' || data instanceof Uint8Array) return socket.write(data);
  if (data.length === 1) return socket.write(data[0]!);
  if (socket.writableCorked > 0) {
    let queued = true;
    for (const piece of data) queued = socket.write(piece);
    return queued;
  }
  let total = 0;
  for (const piece of data) total += piece.byteLength;
  if (total <= COPY_LIMIT) return socket.write(Buffer.concat(data, total));
  socket.cork();
  try {
    let queued = true;
    for (const piece of data) queued = socket.write(piece);
    return queued;
  } finally {
    socket.uncork();
  }
}

/**
 * How much coalescing may hold back on a corked socket before it hands the kernel what it has:
 * the write watermark, or the session's output cap when that is lower, so bytes held back for a
 * writev are never mistaken for a peer that does not read (`maxBufferedOutput`, 0 = no cap).
 */
export function coalescingLimit(socket: Socket, maxBufferedOutput: number): number {
  const watermark = socket.writableHighWaterMark;
  return maxBufferedOutput > 0 && maxBufferedOutput < watermark ? maxBufferedOutput : watermark;
}
