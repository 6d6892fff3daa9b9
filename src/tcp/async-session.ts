/**
 * A session read and written with async/await: `read()` resolves with what has arrived (never
 * waiting to fill a buffer), `write()` resolves when the kernel has taken the bytes.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CloseReason } from './close-reason.ts';
import type { ConnectionInfo } from './connection-info.ts';
import { ErrorCode, SwitchboardError, opErrorFromSystem } from '../core/errors.ts';
import { SessionState, TcpSession, sessionOf, type SessionHost } from './tcp-session.ts';
import { coalescingLimit, writeData, type WriteData } from './socket-write.ts';

/** Bytes buffered for `read()` before the socket stops reading from the kernel. */
const READ_HIGH_WATERMARK = 64 * 1024;

/**
 * Settles a waiting `read()` (with a chunk or null) or iterator `next()` (with a result); an error
 * settles it with a rejected promise, so a waiting read keeps one function, not two.
 */
type ReadResolve = (value: Buffer | null | IteratorResult<Buffer> | Promise<never>) => void;

/** A further concurrent reader, queued behind the one kept in the session's fields. */
interface PendingRead {
  readonly resolve: ReadResolve;
  readonly iterating: boolean;
}

const DONE: IteratorResult<Buffer> = Object.freeze({ done: true, value: undefined });

// One executor for every pending read, so a read that waits allocates its promise and nothing
// else of ours: the executor runs synchronously inside `new Promise`, and #take stores what it
// captured at once. The reject function is not kept (see ReadResolve).
let capturedResolve: ReadResolve = noopResolve;
function captureResolve(resolve: ReadResolve): void {
  capturedResolve = resolve;
}
function noopResolve(): void {}

// Bits of an async session's #flags.
/** The waiting reader is an iterator's `next()` (it gets an IteratorResult). */
const READ_ITERATING = 1;
/** The peer's FIN has been read. */
const EOF = 2;
/** Reading is held because {@link READ_HIGH_WATERMARK} bytes wait for a reader. */
const FULL = 4;
/** The session function has settled: nothing will read again. */
const SERVED = 8;
/** This session corked its socket to coalesce writes; {@link AsyncSession.flushWrites} uncorks it. */
const CORKED = 16;
/** A write was made since the last chunk was handed to a reader: from the second on they are coalesced. */
const WROTE = 32;

// What the session function's promise settles into, bound once per session (no closure context).
function sessionReturned(this: AsyncSession): void {
  this.served(undefined, false);
}
function sessionFailed(this: AsyncSession, error: unknown): void {
  this.served(error, true);
}

// The shared socket listener (no closure per session) that hands bytes to the owning session.
function onSocketData(this: Socket, chunk: Buffer): void {
  sessionOf<AsyncSession>(this).socketData(chunk);
}
const noop = (): void => {};
const RESOLVED = Promise.resolve();
const EMPTY = Buffer.alloc(0);

// A write corked for coalescing is flushed at the latest once the current turn's ticks and
// microtasks have run (before any I/O): a session function that writes and then waits on
// something else than its peer never holds bytes back.
function flushCorkedTurn(session: AsyncSession): void {
  session.flushWrites();
}

/**
 * A TCP session in async style.
 * @example
 * for await (const chunk of session) await session.write(chunk);
 */
export class AsyncSession extends TcpSession implements AsyncIterable<Buffer> {
  /** Chunks no reader has taken yet; created when the first one has to wait. */
  #chunks: Buffer[] | undefined;
  #queuedBytes = 0;
  /**
   * The waiting reader, kept in a field (READ_ITERATING says which kind): one `for await` loop
   * never has more than one, and a record per read would be garbage per chunk. Further
   * concurrent `read()`s queue behind it.
   */
  #readResolve: ReadResolve | undefined;
  #moreReaders: PendingRead[] | undefined;
  /** READ_ITERATING, EOF, FULL, SERVED, CORKED, WROTE. */
  #flags = 0;

  /** @internal Created by the server for each accepted connection. */
  constructor(id: number, socket: Socket, info: ConnectionInfo, host: SessionHost, idleTimeout: number) {
    super(id, socket, info, host, idleTimeout);
    socket.on('data', onSocketData);
  }

  /** STARTTLS: reading leaves the plaintext socket; chunks not yet read are plaintext that followed the command. */
  protected override detachReader(): number {
    this.flushWrites(); // the go-ahead follows what was written before it
    this.socket.off('data', onSocketData);
    return this.#queuedBytes;
  }

  protected override attachReader(): void {
    this.socket.on('data', onSocketData);
  }

  /**
   * Resolves with the next bytes (>= 1) as soon as any are there, or `null` at end of stream.
   * Never waits to fill a buffer (SocketTools' Read).
   * @throws {OpError} (rejects) `SWB_ERR_CONNECTION_RESET` and kin when the stream ended in error
   */
  read(): Promise<Buffer | null> {
    return this.#take(false) as Promise<Buffer | null>;
  }

  /** One read for `read()` or for the iterator, which gets its result object without a second promise. */
  #take(iterating: boolean): Promise<Buffer | null | IteratorResult<Buffer>> {
    const chunk = this.#chunks?.shift();
    if (chunk !== undefined) {
      this.#queuedBytes -= chunk.length;
      if ((this.#flags & FULL) !== 0 && this.#queuedBytes < READ_HIGH_WATERMARK) {
        this.#flags &= ~FULL;
        this.release();
      }
      this.#flags &= ~WROTE;
      return Promise.resolve(iterating ? { done: false, value: chunk } : chunk);
    }
    if ((this.#flags & EOF) !== 0 || this.sessionState === SessionState.CLOSED) return this.#settledEnd(iterating);
    // Waiting on the peer: what the replies to its last bytes coalesced goes out now.
    if ((this.#flags & CORKED) !== 0) this.flushWrites();
    const pending = new Promise<Buffer | null | IteratorResult<Buffer>>(captureResolve);
    if (this.#readResolve === undefined) {
      this.#readResolve = capturedResolve;
      if (iterating) this.#flags |= READ_ITERATING;
      else this.#flags &= ~READ_ITERATING;
    } else {
      (this.#moreReaders ??= []).push({ resolve: capturedResolve, iterating });
    }
    capturedResolve = noopResolve;
    this.becameIdle(); // waiting on the peer: a graceful server close may half-close now
    return pending;
  }

  /**
   * Queues bytes -- a string (UTF-8), bytes, or several buffers written as one, in order -- and
   * resolves when the kernel has taken them; this is not delivery to the peer. Awaiting each
   * write is how async code honours backpressure.
   * @throws {SwitchboardError} (rejects) `SWB_ERR_SESSION_CLOSED` once the session no longer writes;
   * `SWB_ERR_OUTPUT_OVERFLOW` (closing the session) when unawaited writes left more than `maxBufferedOutput` queued
   */
  write(data: WriteData): Promise<void> {
    const socket = this.socket;
    if (this.sessionState !== SessionState.OPEN || socket.destroyed) return handledRejection(this.#closedError('write'));
    const overflow = this.outputOverflow();
    if (overflow !== undefined) return handledRejection(overflow);
    // The first write after a read goes straight out (one reply per read pays nothing); later
    // ones, until the session waits on its peer again, are coalesced into one writev.
    const flags = this.#flags;
    if ((flags & CORKED) === 0) {
      // Writes held for one writev share the clock read of the one that corked: they are made
      // in the same turn (the cork is lifted by the turn's ticks at the latest).
      this.lastActivity = performance.now();
      if ((flags & WROTE) === 0) {
        this.#flags = flags | WROTE;
      } else {
        this.#flags = flags | CORKED;
        socket.cork();
        process.nextTick(flushCorkedTurn, this);
      }
    }
    writeData(socket, data); // a failure surfaces on the socket and closes the session
    if ((this.#flags & CORKED) !== 0) {
      // Held in the process for the turn, below the watermark: taken, as far as backpressure goes.
      if (socket.writableLength < coalescingLimit(socket, this.outputCap)) return RESOLVED;
      this.flushWrites();
    }
    // The common case: the bytes went straight to the kernel, so there is nothing to wait for.
    if (socket.writableLength === 0) return RESOLVED;
    return this.#flushed();
  }

  /**
   * More input taken from the same read is still to come (a framed session's further decoded
   * frames): the next write is coalesced, not only the second, so the replies to one chunk
   * leave in one writev. Held bytes still go out once the session waits on its peer or the
   * turn's ticks have run.
   */
  protected coalesceNextWrite(): void {
    this.#flags |= WROTE;
  }

  /** Hands the kernel what coalescing held back (a no-op unless this session corked its socket). @internal */
  flushWrites(): void {
    if ((this.#flags & CORKED) === 0) return;
    this.#flags &= ~CORKED;
    // end() flushes a corked socket itself, and destroy() drops its queue: nothing left to uncork then.
    const socket = this.socket;
    if (socket.writableCorked > 0) socket.uncork();
  }

  /** Resolves once every byte queued so far has reached the kernel. */
  #flushed(): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    // Write callbacks run in order, so an empty write's callback runs once all before it is written.
    this.socket.write(EMPTY, (error) => {
      if (error == null) return resolve();
      promise.catch(noop); // an unawaited failed write must not become an unhandled rejection
      if (this.sessionState === SessionState.CLOSED || this.socket.destroyed) return reject(this.#closedError('write'));
      reject(opErrorFromSystem({ op: 'write', transport: 'tcp', address: this.remoteAddress, port: this.remotePort }, error));
    });
    return promise;
  }

  /** Iterates incoming chunks until end of stream. Leaving the loop early does not close the session. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return new SessionIterator(this);
  }

  /** The iterator's `next()`. @internal */
  nextResult(): Promise<IteratorResult<Buffer>> {
    return this.#take(true) as Promise<IteratorResult<Buffer>>;
  }

  /**
   * Runs a session function; ends the session when it resolves, destroys it when it rejects. A
   * graceful close waits for it. @internal
   */
  run(serve: (session: AsyncSession) => Promise<void> | void): void {
    let result: Promise<void> | void;
    this.workStarted();
    try {
      result = serve(this);
    } catch (error) {
      this.handlerFailed(error, 'session');
      return this.#servedWith();
    }
    Promise.resolve(result).then(sessionReturned.bind(this), sessionFailed.bind(this));
  }

  /** The session function's promise settled: end the session, or report its failure. @internal */
  served(error: unknown, failed: boolean): void {
    if (failed) this.handlerFailed(error, 'session');
    else this.end();
    this.#servedWith();
  }

  /**
   * The server closed before its `for await` loop took this session: nothing will read it, so a
   * graceful close half-closes it at once. @internal
   */
  unclaimed(): void {
    this.#flags |= SERVED;
    this.finishReading();
  }

  /** The session function settled: nobody reads any more, so input is dropped until the peer's FIN. */
  #servedWith(): void {
    this.#flags |= SERVED;
    this.finishReading();
    this.workDone();
  }

  /** A reader waits on the peer, or the session function has returned. */
  protected get awaitingPeer(): boolean {
    return this.#readResolve !== undefined || (this.#flags & SERVED) !== 0;
  }

  protected override inputDiscarded(): void {
    this.#chunks = undefined;
    this.#queuedBytes = 0;
    if ((this.#flags & FULL) !== 0) {
      this.#flags &= ~FULL;
      this.release();
    }
  }

  protected peerEnded(): void {
    this.#flags |= EOF;
    for (let reader = this.#nextReader(); reader !== undefined; reader = this.#nextReader()) reader.resolve(reader.iterating ? DONE : null);
  }

  protected idled(): void {
    this.idleExpired();
  }

  protected closedWith(reason: CloseReason): void {
    for (let reader = this.#nextReader(); reader !== undefined; reader = this.#nextReader()) {
      if (reason.error && (this.#flags & EOF) === 0) reader.resolve(handledRejection(reason.error));
      else reader.resolve(reader.iterating ? DONE : null);
    }
  }

  /** Takes the longest-waiting reader off the queue (as a record: only the end and the close walk several). */
  #nextReader(): PendingRead | undefined {
    const resolve = this.#readResolve;
    if (resolve === undefined) return undefined;
    const reader: PendingRead = { resolve, iterating: (this.#flags & READ_ITERATING) !== 0 };
    this.#shiftReader();
    return reader;
  }

  /** The first reader has been served: the next queued one, if any, takes its place. */
  #shiftReader(): void {
    const next = this.#moreReaders?.shift();
    this.#readResolve = next?.resolve;
    if (next?.iterating === true) this.#flags |= READ_ITERATING;
    else this.#flags &= ~READ_ITERATING;
  }

  #settledEnd(iterating: boolean): Promise<Buffer | null | IteratorResult<Buffer>> {
    const error = this.closeReason?.error;
    if (error && (this.#flags & EOF) === 0) return handledRejection(error);
    return Promise.resolve(iterating ? DONE : null);
  }

  #closedError(op: string): SwitchboardError {
    const why = this.closeReason ? ` (${this.closeReason.cause})` : '';
    return new SwitchboardError(ErrorCode.SESSION_CLOSED, `${op} on session ${this.id}: session is ${this.socket.destroyed ? 'closed' : this.sessionState}${why}`);
  }

  /** Bytes arrived: to a waiting reader, else buffered (reading holds past the high watermark). @internal */
  socketData(chunk: Buffer): void {
    if (this.discarding) return;
    this.lastActivity = performance.now();
    const resolve = this.#readResolve;
    if (resolve !== undefined) {
      const iterating = (this.#flags & READ_ITERATING) !== 0;
      this.#shiftReader();
      this.#flags &= ~WROTE;
      return resolve(iterating ? { done: false, value: chunk } : chunk);
    }
    (this.#chunks ??= []).push(chunk);
    this.#queuedBytes += chunk.length;
    if ((this.#flags & FULL) === 0 && this.#queuedBytes >= READ_HIGH_WATERMARK) {
      this.#flags |= FULL;
      this.hold();
    }
  }
}

/** A rejected promise that is already handled, so an unawaited failure never crashes the process. @internal */
export function handledRejection<T>(error: SwitchboardError): Promise<T> {
  const promise = Promise.reject<T>(error);
  promise.catch(noop);
  return promise;
}

/** The iterator of a session: one small object per loop, its methods on the prototype. */
class SessionIterator implements AsyncIterator<Buffer> {
  readonly #session: AsyncSession;

  constructor(session: AsyncSession) {
    this.#session = session;
  }

  next(): Promise<IteratorResult<Buffer>> {
    return this.#session.nextResult();
  }

  return(): Promise<IteratorResult<Buffer>> {
    return Promise.resolve(DONE);
  }
}
