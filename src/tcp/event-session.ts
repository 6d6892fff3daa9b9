/**
 * A session served by an {@link TcpEventHandler}: bytes are pushed to `data`, `write` returns the
 * socket's backpressure signal, and `drain` says when to write again.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CloseReason } from './close-reason.ts';
import type { ConnectionInfo } from './connection-info.ts';
import { isThenable, type TcpEventHandler } from './tcp-handlers.ts';
import { SessionState, TcpSession, sessionOf, type SessionHost } from './tcp-session.ts';
import { coalescingLimit, writeData, type WriteData } from './socket-write.ts';

// Shared socket listeners (no closure per session) that hand the event to the owning session.
function onSocketData(this: Socket, chunk: Buffer): void {
  sessionOf<EventSession>(this).socketData(chunk);
}
function onSocketDrain(this: Socket): void {
  sessionOf<EventSession>(this).socketDrain();
}

/**
 * A TCP session in event style.
 * @example
 * { data(session, chunk) { if (!session.write(chunk)) session.pause(); }, drain(session) { session.resume(); } }
 */
export class EventSession extends TcpSession {
  readonly #handler: TcpEventHandler;
  /** The user's own pause: one hold on reading, kept apart from the library's holds. */
  #paused = false;
  /**
   * Writes made by the running `data` handler call, or -1 outside one: from its second write on
   * the socket is corked, and uncorked as the handler returns, so they leave in one writev.
   */
  #handlerWrites = -1;

  /** @internal Created by the server for each accepted connection. */
  constructor(id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number, handler: TcpEventHandler) {
    super(id, socket, info, host, idleTimeout);
    this.#handler = handler;
    this.attachReader();
  }

  /** The `data` and `drain` listeners join the socket (at open, and on the `TLSSocket` after `startTls()`). */
  protected override attachReader(): void {
    const { socket } = this;
    if (this.#handler.drain) socket.on('drain', onSocketDrain);
    if (this.#handler.data) socket.on('data', onSocketData);
    else socket.resume(); // no reader: discard input so the peer never blocks
  }

  /** STARTTLS: the listeners leave the plaintext socket; what follows the command is in the caller's parser. */
  protected override detachReader(): number {
    this.#flushHandlerWrites(); // the go-ahead follows what the handler wrote before it
    this.socket.off('data', onSocketData).off('drain', onSocketDrain);
    return 0;
  }

  /** Uncorks what the running `data` handler's writes held back; later writes of it go straight out. */
  #flushHandlerWrites(): void {
    const corked = this.#handlerWrites > 1;
    this.#handlerWrites = -1;
    // end() in the handler flushed it already (Node uncorks on end).
    if (corked && this.socket.writableCorked > 0) this.socket.uncork();
  }

  /** Calls the `open` handler; reading waits while a promise it returns is pending. @internal */
  start(): void {
    const open = this.#handler.open;
    if (!open) return;
    const result = this.callHandler('open', open, this.#handler);
    if (isThenable(result)) this.#awaitHandler(result, 'open');
  }

  /**
   * Queues bytes for the peer -- a string (UTF-8), bytes, or several buffers written as one, in
   * order. Returns false when the output buffer is above its high watermark (wait for `drain`)
   * or the session is no longer writable; never throws. Writing while more than
   * `maxBufferedOutput` bytes are queued closes the session (`SWB_ERR_OUTPUT_OVERFLOW`).
   */
  write(data: WriteData): boolean {
    if (this.sessionState !== SessionState.OPEN || this.outputOverflow() !== undefined) return false;
    const socket = this.socket;
    // Inside the data handler the chunk's arrival has just stamped the activity time.
    if (this.#handlerWrites < 0) this.lastActivity = performance.now();
    else if (this.#handlerWrites++ === 1) socket.cork();
    const queued = writeData(socket, data);
    // Corked: a long reply still reaches the kernel once a watermark's worth (or the cap's) is queued.
    if (this.#handlerWrites > 1 && socket.writableCorked > 0 && socket.writableLength >= coalescingLimit(socket, this.outputCap)) {
      socket.uncork();
      socket.cork();
      // What the kernel did not take is the backpressure, as for an uncorked write.
      return socket.writableLength < socket.writableHighWaterMark;
    }
    return queued;
  }

  /**
   * Stops reading from the peer (TCP flow control pushes back on it) until {@link resume}. The
   * library's own holds (while an async handler runs) never undo it.
   */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.hold();
  }

  /** Resumes reading after {@link pause} (once no async handler holds it either). */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.release();
  }

  /** No handler promise is pending: the session waits on its peer. */
  protected get awaitingPeer(): boolean {
    return !this.busy;
  }

  protected override closing(): void {
    const closing = this.#handler.closing;
    if (closing) this.callHandler('closing', closing, this.#handler);
  }

  protected peerEnded(): void {
    if (this.discarding) return; // our side is done: the FIN only completes the close
    const end = this.#handler.end;
    if (!end) return this.end();
    this.callHandler('end', end, this.#handler);
  }

  protected idled(): void {
    const timeout = this.#handler.timeout;
    if (!timeout) return this.idleExpired();
    this.callHandler('timeout', timeout, this.#handler);
  }

  protected closedWith(reason: CloseReason): void {
    const handler = this.#handler;
    if (reason.error && handler.error) this.callHandler('error', handler.error, handler, reason.error);
    if (handler.close) this.callHandler('close', handler.close, handler, reason);
  }

  /** Reading holds while a handler's promise is pending, and a graceful close waits for it. */
  #awaitHandler(pending: PromiseLike<unknown>, callback: string): void {
    this.hold();
    this.workStarted();
    pending.then(
      () => this.#handlerSettled(),
      (error: unknown) => {
        this.handlerFailed(error, callback);
        this.#handlerSettled();
      },
    );
  }

  #handlerSettled(): void {
    this.release();
    this.workDone();
  }

  /** Bytes arrived: to the `data` handler, whose promise holds reading until it settles. @internal */
  socketData(chunk: Buffer): void {
    if (this.discarding) return;
    this.lastActivity = performance.now();
    const handler = this.#handler;
    this.#handlerWrites = 0;
    const result = this.callHandler('data', handler.data!, handler, chunk);
    // Two writes or more: the second corked the socket (unless startTls() flushed it meanwhile).
    this.#flushHandlerWrites();
    if (result !== undefined && isThenable(result)) this.#awaitHandler(result, 'data');
  }

  /** The output fell below its high watermark: to the `drain` handler. @internal */
  socketDrain(): void {
    this.callHandler('drain', this.#handler.drain!, this.#handler);
  }
}
