/**
 * Switchboard's event API, echo subset, over the native epoll transport (issue 17 prototype;
 * docs/native-transport.md). One batch call per event-loop turn carries every session's
 * records; a record's bytes are a view of the reused read buffer, valid until the `data`
 * handler returns (pass `copyChunks: true` to get owned copies, as Switchboard's API promises).
 *
 * Guarantees kept: `open` once and `close` once per session, with exactly one reason (the first
 * cause recorded wins); `write()` returns false above the high watermark and `drain` follows;
 * writing while more than `maxBufferedOutput` bytes are queued closes the session
 * (`SWB_ERR_OUTPUT_OVERFLOW`); a handler that throws closes only its session; `close()` ends
 * every session gracefully and waits for them (bounded by `timeout`).
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import path from 'node:path';
import { CloseCause, type CloseReason } from '../../../src/tcp/close-reason.ts';
import { ErrorCode, SwitchboardError } from '../../../src/core/errors.ts';

interface Binding {
  init(callback: (records: number, bytes: number) => void, records: Int32Array, buffer: Buffer): number;
  listen(port: number, backlog: number, noDelay: boolean, host: number): number;
  closeListener(fd: number): void;
  write(fd: number, gen: number, bytes: Uint8Array): number;
  queued(fd: number, gen: number): number;
  setReading(fd: number, gen: number, on: boolean): void;
  end(fd: number, gen: number): number;
  destroy(fd: number, gen: number, reset: boolean): void;
  openCount(): number;
  stop(): void;
  start(): void;
}

/** Where `experiments/native-transport/run.sh` (node-gyp) puts the addon. */
export const ADDON_PATH = path.join(import.meta.dirname, '..', 'build', 'Release', 'native_transport.node');

// Record layout, as src/transport.c writes it: [type, fd, generation, a, b].
const REC_INTS = 5;
const REC_OPEN = 1;
const REC_DATA = 2;
const REC_END = 3;
const REC_CLOSE = 4;
const REC_DRAIN = 5;
const NC_ENDED = 2;
const STALE = -1_000_000;
const RECORDS = 8192;
const READ_BUFFER_BYTES = 1 << 20;
const DEFAULT_HWM = 64 * 1024;
const DEFAULT_OUTPUT_CAP = 1024 * 1024;

/** The event handler: the callbacks of Switchboard's `TcpEventHandler` that the echo case uses. */
export interface NativeEventHandler {
  open?(session: NativeSession): void;
  /** Bytes arrived; `chunk` is borrowed (valid until this returns) unless `copyChunks` is set. */
  data?(session: NativeSession, chunk: Buffer): void;
  drain?(session: NativeSession): void;
  /** The peer half-closed. @default `session.end()` */
  end?(session: NativeSession): void;
  error?(session: NativeSession, error: SwitchboardError): void;
  close?(session: NativeSession, reason: CloseReason): void;
}

export interface NativeListenOptions {
  host?: string;
  port?: number;
  backlog?: number;
  noDelay?: boolean;
  /** @default 65536 */
  highWaterMark?: number;
  /** 0 disables. @default 1048576 */
  maxBufferedOutput?: number;
  /**
   * Give `data` owned chunks (Switchboard's contract: the handler may keep them) instead of views
   * of the reused read buffer: one copy of the batch's bytes per loop turn.
   */
  copyChunks?: boolean;
}

let binding: Binding | undefined;
let records: Int32Array;
let readBuffer: Buffer;
/** Live sessions by fd (the addon's connection table is indexed the same way). */
const byFd: (NativeSession | undefined)[] = [];
let liveServers = 0;

function load(): Binding {
  if (binding) return binding;
  const required = createRequire(import.meta.url)(ADDON_PATH) as Binding;
  records = new Int32Array(RECORDS * REC_INTS);
  readBuffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  required.init(onBatch, records, readBuffer);
  binding = required;
  return required;
}

function ipv4(host: string): number {
  const parts = host.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new SwitchboardError(ErrorCode.INVALID_OPTION, `native transport: \`host\` must be an IPv4 literal, got ${host}`);
  }
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function systemError(code: number, what: string): SwitchboardError {
  const name = Object.entries(constants.errno).find(([, value]) => value === code)?.[0] ?? `errno ${code}`;
  const reset = name === 'ECONNRESET' || name === 'EPIPE';
  return new SwitchboardError(reset ? ErrorCode.CONNECTION_RESET : ErrorCode.SOCKET, `${what}: ${name}`);
}

const batchStats = { batches: 0, records: 0, maxDataPerBatch: 0 };

/** How many calls into JavaScript the addon made, the records they carried, and the most reads in one. */
export function nativeBatchStats(): Readonly<typeof batchStats> {
  return { ...batchStats };
}

/**
 * Owned chunks (`copyChunks`): the batch's bytes are copied once into one new buffer per batch,
 * and each chunk is a view of it (one allocation and one memcpy per loop turn, not per chunk).
 */
let copyBatches = false;

/** The one call per loop turn: every record of the batch, in order; `bytes` of the read buffer are used. */
function onBatch(count: number, bytes: number): void {
  const rec = records;
  let source = readBuffer;
  if (copyBatches && bytes > 0) {
    source = Buffer.allocUnsafeSlow(bytes);
    readBuffer.copy(source, 0, 0, bytes);
  }
  let reads = 0;
  batchStats.batches++;
  batchStats.records += count;
  for (let i = 0; i < count; i++) {
    const at = i * REC_INTS;
    const type = rec[at]!;
    const fd = rec[at + 1]!;
    const gen = rec[at + 2]!;
    if (type === REC_OPEN) {
      const listener = openServer;
      if (listener === undefined) {
        binding!.destroy(fd, gen, false);
        continue;
      }
      const address = rec[at + 3]! >>> 0;
      const session = new NativeSession(listener, fd, gen, `${address >>> 24}.${(address >>> 16) & 255}.${(address >>> 8) & 255}.${address & 255}`, rec[at + 4]!);
      byFd[fd] = session;
      listener.sessionOpened(session);
      continue;
    }
    const session = byFd[fd];
    if (session === undefined || session.generation !== gen) continue; // closed earlier in this batch
    if (type === REC_DATA) {
      reads++;
      session.received(source, rec[at + 3]!, rec[at + 4]!);
    }
    else if (type === REC_END) session.peerEnded();
    else if (type === REC_DRAIN) session.drained();
    else if (type === REC_CLOSE) session.nativeClosed(rec[at + 3]!, rec[at + 4]!);
  }
  if (reads > batchStats.maxDataPerBatch) batchStats.maxDataPerBatch = reads;
}

/**
 * The server whose listener accepted the batch's connections. The prototype runs one listening
 * server at a time (the addon does not tag OPEN records with their listener yet).
 */
let openServer: NativeServer | undefined;

const State = { OPEN: 0, ENDING: 1, CLOSED: 2 } as const;
type State = (typeof State)[keyof typeof State];

/** A session on the native transport. */
export class NativeSession {
  readonly server: NativeServer;
  readonly fd: number;
  readonly generation: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  #state: State = State.OPEN;
  #queued = 0;
  #paused = false;
  /** The last write returned false: the next DRAIN record goes to the `drain` handler. */
  #needDrain = false;
  #reason: CloseReason | undefined;

  /** @internal */
  constructor(server: NativeServer, fd: number, generation: number, remoteAddress: string, remotePort: number) {
    this.server = server;
    this.fd = fd;
    this.generation = generation;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
  }

  /** The close reason once closed. */
  get closeReason(): CloseReason | undefined {
    return this.#reason;
  }

  get isOpen(): boolean {
    return this.#state === State.OPEN;
  }

  /** Bytes queued in the addon for this session as of the last write. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Sends bytes: straight to send() when nothing is queued. Returns false above the high
   * watermark (wait for `drain`) or when the session is no longer writable; never throws.
   */
  write(data: Uint8Array | string): boolean {
    if (this.#state !== State.OPEN) return false;
    const cap = this.server.maxBufferedOutput;
    // The figure of the last write may be stale (the addon flushed since): ask before failing.
    if (cap > 0 && this.#queued > cap && (this.#queued = binding!.queued(this.fd, this.generation)) > cap) {
      this.#fail(CloseCause.LIMIT, new SwitchboardError(ErrorCode.OUTPUT_OVERFLOW, `session ${this.fd}: ${this.#queued} bytes of output queued, over maxBufferedOutput (${cap}); the peer is not reading`), true);
      return false;
    }
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const queued = binding!.write(this.fd, this.generation, bytes);
    if (queued < 0) {
      if (queued !== STALE) this.#fail(CloseCause.PEER_RESET, systemError(-queued, `session ${this.fd}: write`), false);
      return false;
    }
    this.#queued = queued;
    if (queued < this.server.highWaterMark) return true;
    this.#needDrain = true;
    return false;
  }

  /** Finishes queued writes, half-closes and closes. */
  end(): void {
    if (this.#state !== State.OPEN) return;
    this.#record(CloseCause.LOCAL_END, undefined);
    this.#endNow();
  }

  /** Closes at once (a reset when an error is given). */
  destroy(error?: SwitchboardError): void {
    if (this.#state === State.CLOSED) return;
    this.#record(CloseCause.LOCAL_DESTROY, error);
    binding!.destroy(this.fd, this.generation, error !== undefined);
    this.#finish();
  }

  pause(): void {
    if (this.#paused || this.#state !== State.OPEN) return;
    this.#paused = true;
    binding!.setReading(this.fd, this.generation, false);
  }

  resume(): void {
    if (!this.#paused || this.#state !== State.OPEN) return;
    this.#paused = false;
    binding!.setReading(this.fd, this.generation, true);
  }

  #endNow(): void {
    this.#state = State.ENDING;
    const closedNow = binding!.end(this.fd, this.generation);
    if (closedNow !== 0) this.#finish(); // 0: a REC_CLOSE follows once the queue drains
  }

  #record(cause: CloseReason['cause'], error: SwitchboardError | undefined): void {
    this.#reason ??= { cause, error };
  }

  #fail(cause: CloseReason['cause'], error: SwitchboardError, reset: boolean): void {
    if (this.#state === State.CLOSED) return;
    this.#record(cause, error);
    binding!.destroy(this.fd, this.generation, reset);
    this.#finish();
  }

  #finish(): void {
    if (this.#state === State.CLOSED) return;
    this.#state = State.CLOSED;
    if (byFd[this.fd] === this) byFd[this.fd] = undefined;
    const reason = this.#reason!;
    this.server.sessionClosed(this, reason);
  }

  /** @internal */
  received(buffer: Buffer, offset: number, length: number): void {
    if (this.#state !== State.OPEN) return;
    const handler = this.server.handler;
    if (!handler.data) return;
    this.server.call(this, 'data', buffer.subarray(offset, offset + length));
  }

  /** @internal */
  peerEnded(): void {
    if (this.#state !== State.OPEN) return;
    this.#record(CloseCause.PEER_END, undefined);
    const end = this.server.handler.end;
    if (end) this.server.call(this, 'end');
    else this.#endNow();
  }

  /** @internal */
  drained(): void {
    this.#queued = 0;
    if (!this.#needDrain) return;
    this.#needDrain = false;
    if (this.#state === State.OPEN && this.server.handler.drain) this.server.call(this, 'drain');
  }

  /** @internal The addon closed the connection: an error, or end() finished after the queue drained. */
  nativeClosed(errno: number, why: number): void {
    if (why !== NC_ENDED) {
      const error = systemError(errno, `session ${this.fd}`);
      this.#record(error.code === ErrorCode.CONNECTION_RESET ? CloseCause.PEER_RESET : CloseCause.SOCKET_ERROR, error);
    }
    this.#finish();
  }

  /** @internal Graceful server close: end once writes drain. */
  serverClosing(): void {
    if (this.#state !== State.OPEN) return;
    this.#record(CloseCause.SERVER_CLOSE, undefined);
    this.#endNow();
  }

  /** @internal */
  serverDestroy(): void {
    if (this.#state === State.CLOSED) return;
    this.#record(CloseCause.SERVER_DESTROY, undefined);
    binding!.destroy(this.fd, this.generation, true);
    this.#finish();
  }

  /** @internal A handler threw: this session only. */
  handlerFailed(error: unknown, callback: string): void {
    this.#fail(CloseCause.HANDLER_ERROR, new SwitchboardError(ErrorCode.HANDLER_FAILED, `${callback} handler failed: ${(error as Error)?.message ?? String(error)}`, { cause: error }), true);
  }
}

/** A listening native server. */
export class NativeServer {
  readonly handler: NativeEventHandler;
  readonly highWaterMark: number;
  readonly maxBufferedOutput: number;
  readonly copyChunks: boolean;
  readonly addresses: { address: string; port: number }[];
  readonly sessions = new Set<NativeSession>();
  #listenFd: number;
  #closing: Promise<void> | undefined;
  #allClosed: (() => void) | undefined;
  opened = 0;
  closed = 0;

  /** @internal */
  constructor(handler: NativeEventHandler, options: NativeListenOptions, listenFd: number, host: string, port: number) {
    this.handler = handler;
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HWM;
    this.maxBufferedOutput = options.maxBufferedOutput ?? DEFAULT_OUTPUT_CAP;
    this.copyChunks = options.copyChunks ?? false;
    this.#listenFd = listenFd;
    this.addresses = [{ address: host, port }];
  }

  /** @internal Calls a handler; a throw closes that session only. */
  call(session: NativeSession, name: 'open' | 'data' | 'drain' | 'end', chunk?: Buffer): void {
    try {
      if (name === 'data') this.handler.data!(session, chunk!);
      else this.handler[name]!(session);
    } catch (error) {
      session.handlerFailed(error, name);
    }
  }

  /** @internal */
  sessionOpened(session: NativeSession): void {
    this.sessions.add(session);
    this.opened++;
    if (this.handler.open) this.call(session, 'open');
  }

  /** @internal Exactly once per session (NativeSession#finish guards it). */
  sessionClosed(session: NativeSession, reason: CloseReason): void {
    this.sessions.delete(session);
    this.closed++;
    const { error, close } = this.handler;
    try {
      if (reason.error && error) error(session, reason.error);
    } catch {}
    try {
      if (close) close(session, reason);
    } catch {}
    if (this.sessions.size === 0) this.#allClosed?.();
  }

  /** Stops accepting, ends every session gracefully, destroys those still open after `timeout` ms. */
  close(options: { timeout?: number } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#stopListening();
    const done = new Promise<void>((resolve) => {
      this.#allClosed = resolve;
    });
    for (const session of [...this.sessions]) session.serverClosing();
    if (this.sessions.size === 0) this.#allClosed!();
    const timeout = options.timeout ?? 10_000;
    const timer = setTimeout(() => {
      for (const session of [...this.sessions]) session.serverDestroy();
    }, timeout);
    this.#closing = done.then(() => {
      clearTimeout(timer);
      releaseLoop();
    });
    return this.#closing;
  }

  /** Closes every session at once. */
  destroy(): Promise<void> {
    const closing = this.close({ timeout: 0 });
    for (const session of [...this.sessions]) session.serverDestroy();
    return closing;
  }

  #stopListening(): void {
    if (this.#listenFd < 0) return;
    binding!.closeListener(this.#listenFd);
    if (openServer === this) openServer = undefined;
    this.#listenFd = -1;
  }
}

function releaseLoop(): void {
  liveServers--;
  // Nothing to watch: let the process exit (the epoll fd stays, idle).
  if (liveServers === 0 && binding!.openCount() === 0) binding!.stop();
}

/** Listens on an IPv4 address with the native transport (one listening server at a time). */
export async function listenNative(options: NativeListenOptions, handler: NativeEventHandler): Promise<NativeServer> {
  const native = load();
  if (openServer !== undefined) {
    throw new SwitchboardError(ErrorCode.ALREADY_LISTENING, 'native transport prototype: one listening server per process');
  }
  const host = options.host ?? '127.0.0.1';
  const result = native.listen(options.port ?? 0, options.backlog ?? 511, options.noDelay ?? false, ipv4(host));
  if (result < 0) throw systemError(-result, `listen tcp ${host}:${options.port ?? 0}`);
  const fd = Math.floor(result / 65536);
  const server = new NativeServer(handler, options, fd, host, result % 65536);
  openServer = server;
  copyBatches = server.copyChunks;
  liveServers++;
  native.start();
  return server;
}

/** Connections the addon holds open (all servers), for leak checks. */
export function nativeOpenConnections(): number {
  return binding?.openCount() ?? 0;
}
