/**
 * A scripted client for line and length-field protocols: `send` frames, `expect` the server's
 * replies one by one (a failure says what arrived instead), `expectClose` the end -- and the faults
 * a protocol author tests against: random splits, reset, half-close, stall, slow read. It is a
 * `connectTcp` session with `framed()`, so it frames exactly as a server's session would.
 */
import { AssertionError } from 'node:assert';
import { inspect } from 'node:util';
import { connectTcp } from '../client/tcp-client.ts';
import type { TcpClientOptions } from '../client/tcp-client-options.ts';
import type { FrameCodec, FrameInput } from '../codecs/codec.ts';
import { createLengthFieldCodec } from '../codecs/length-field-codec.ts';
import { createLineCodec } from '../codecs/line-codec.ts';
import { InvalidOptionError } from '../core/errors.ts';
import { durationOption, integerOption } from '../core/options.ts';
import { framed } from '../framing/framed.ts';
import type { FramedEventSession } from '../framing/framed-event-session.ts';
import { CloseCause, type CloseReason } from '../tcp/close-reason.ts';
import type { BoundAddress } from '../net/listener-group.ts';
import { registerCleanup, type TestCleanupContext } from './cleanup.ts';
import { createSeededRandom, splitRandomly } from './seeded-random.ts';

/** A frame as the scripted client receives it: a string from a line codec, bytes from a length-field one. */
export type ScriptFrame = string | Buffer;

/**
 * The protocol's framing: `'line'` (lines ending in LF or CRLF, sent with LF; frames are
 * strings), `'length'` (a 4-byte big-endian length before each payload; frames are Buffers), or
 * a function making any codec.
 */
export type ScriptCodec = 'line' | 'length' | (() => FrameCodec<FrameInput, ScriptFrame>);

/** What {@link ScriptedClient.expect} compares the next frame with: equal text or bytes, or a pattern its text matches. */
export type ExpectedFrame = string | Uint8Array | RegExp;

/** What {@link ScriptedClient.expectClose} checks: the close cause, or the cause and the error's code. */
export type ExpectedClose = CloseCause | { readonly cause?: CloseCause; readonly code?: string };

/** Options of {@link scriptedClient}: `connectTcp`'s, with `host` and `port` taken from the target unless given. */
export interface ScriptedClientOptions extends Omit<TcpClientOptions, 'host' | 'port'> {
  host?: string;
  port?: number;
  /** @default 'line' */
  codec?: ScriptCodec;
  /** How long an `expect` waits unless told otherwise, in ms. @default 2000 */
  expectTimeout?: number;
}

/** Options of an expectation. */
export interface ExpectOptions {
  /** @default the client's `expectTimeout` */
  timeout?: number;
}

/** Options of {@link ScriptedClient.sendInSplits}. */
export interface SplitOptions {
  /** The seed of the splits, to replay a failure. @default a random one (in the result) */
  seed?: number;
  /** At most this many pieces. @default 8 */
  maxPieces?: number;
}

const DEFAULT_EXPECT_TIMEOUT = 2000;
/** Frames shown in a failure message, at most. */
const SHOWN_FRAMES = 8;

/** Frames as they arrive, and who waits for them; the close, once it came. */
class Inbox {
  readonly frames: ScriptFrame[] = [];
  reason: CloseReason | undefined;
  /** Slow read: each frame holds reading this long (framed sessions pause while a frame handler's promise is pending). */
  slowReadMs = 0;
  #waiters: (() => void)[] = [];

  arrived(frame: ScriptFrame): Promise<void> | undefined {
    // A frame of a line codec is a view of the socket's chunk: keep a copy, as the script may read it late.
    this.frames.push(typeof frame === 'string' ? frame : Buffer.from(frame));
    this.#wake();
    const ms = this.slowReadMs;
    return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : undefined;
  }

  closedWith(reason: CloseReason): void {
    this.reason = reason;
    this.#wake();
  }

  /** Resolves once `ready()` holds or `ms` passed (then with false). */
  waitFor(ready: () => boolean, ms: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== check);
        resolve(false);
      }, ms);
      const check = (): void => {
        if (!ready()) return void this.#waiters.push(check);
        clearTimeout(timer);
        resolve(true);
      };
      this.#waiters.push(check);
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}

function show(value: unknown): string {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    const bytes = Buffer.from(value as Uint8Array);
    return `<${bytes.length} bytes ${bytes.subarray(0, 32).toString('hex')}${bytes.length > 32 ? '\u2026' : ''}>`;
  }
  return inspect(value, { breakLength: Infinity });
}

function showFrames(frames: readonly ScriptFrame[]): string {
  const shown = frames.slice(0, SHOWN_FRAMES).map(show).join(', ');
  return frames.length > SHOWN_FRAMES ? `${shown} and ${frames.length - SHOWN_FRAMES} more` : shown;
}

function showReason(reason: CloseReason): string {
  return reason.error === undefined ? reason.cause : `${reason.cause}: ${reason.error.code} ${reason.error.message}`;
}

function matches(expected: ExpectedFrame, frame: ScriptFrame): boolean {
  if (expected instanceof RegExp) return expected.test(typeof frame === 'string' ? frame : frame.toString('utf8'));
  if (typeof expected === 'string') return (typeof frame === 'string' ? frame : frame.toString('utf8')) === expected;
  return Buffer.from(typeof frame === 'string' ? Buffer.from(frame) : frame).equals(Buffer.from(expected));
}

function codecFactory(codec: ScriptCodec | undefined): () => FrameCodec<FrameInput, ScriptFrame> {
  if (codec === undefined || codec === 'line') return () => createLineCodec();
  if (codec === 'length') return () => createLengthFieldCodec() as FrameCodec<FrameInput, ScriptFrame>;
  if (typeof codec === 'function') return codec;
  throw new InvalidOptionError('codec', "must be 'line', 'length' or a function returning a codec", codec);
}

/**
 * A connection that plays a script against a server. Made by {@link scriptedClient}; every
 * method that waits is bounded by its `timeout`.
 */
export class ScriptedClient {
  /** The session underneath: a framed event session, as a server's would be. */
  readonly session: FramedEventSession<FrameInput, ScriptFrame>;
  readonly #inbox: Inbox;
  readonly #timeout: number;

  /** @internal Made by {@link scriptedClient}. */
  constructor(session: FramedEventSession<FrameInput, ScriptFrame>, inbox: Inbox, timeout: number) {
    this.session = session;
    this.#inbox = inbox;
    this.#timeout = timeout;
  }

  /** Frames received and not yet taken by an `expect`. */
  get unread(): readonly ScriptFrame[] {
    return this.#inbox.frames;
  }

  /** Resolves (never rejects) with the close reason once the connection closed. */
  get closed(): Promise<CloseReason> {
    return this.session.closed;
  }

  /** Encodes and sends frames, in order. */
  send(...frames: FrameInput[]): this {
    for (const frame of frames) this.session.send(frame);
    return this;
  }

  /** Sends bytes as they are: a partial frame (a slowloris), garbage, a frame the codec would refuse to encode. */
  sendRaw(bytes: string | Uint8Array): this {
    this.session.write(bytes);
    return this;
  }

  /**
   * Sends the encoded frames cut at random offsets, each piece written on its own (TCP_NODELAY
   * on), so the server reads them split anywhere -- inside a length field, a CRLF, a UTF-8
   * character. Resolves with the seed and the pieces' sizes, to replay a failure.
   */
  async sendInSplits(frames: FrameInput | readonly FrameInput[], options: SplitOptions = {}): Promise<{ seed: number; pieces: number[] }> {
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    const maxPieces = integerOption('maxPieces', options.maxPieces, 8, 1);
    const list = Array.isArray(frames) ? frames : [frames as FrameInput];
    const bytes = Buffer.concat(list.flatMap((frame) => [this.session.codec.encode(frame)].flat()));
    const pieces = splitRandomly(createSeededRandom(seed), bytes, maxPieces).filter((piece) => piece.length > 0);
    this.session.setNoDelay(true);
    for (const piece of pieces) {
      this.session.write(piece);
      // One piece per turn of the event loop: each leaves in its own segment.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { seed, pieces: pieces.map((piece) => piece.length) };
  }

  /**
   * Waits for the next frame and checks it against `expected`: equal text (a line), equal bytes,
   * or a RegExp its text matches. Resolves with the frame, which is taken off `unread`.
   * @throws {AssertionError} (rejects) naming what arrived instead -- another frame, nothing within
   * `timeout` (with the bytes of an unfinished frame), or the close and its reason
   * @example
   * await client.expect(/^\* welcome/);
   */
  async expect(expected: ExpectedFrame, options: ExpectOptions = {}): Promise<ScriptFrame> {
    const timeout = durationOption('timeout', options.timeout, this.#timeout);
    const inbox = this.#inbox;
    await inbox.waitFor(() => inbox.frames.length > 0 || inbox.reason !== undefined, timeout);
    const frame = inbox.frames.shift();
    if (frame !== undefined) {
      if (matches(expected, frame)) return frame;
      const later = inbox.frames.length > 0 ? `, then ${showFrames(inbox.frames)}` : '';
      throw new AssertionError({ message: `expected ${show(expected)}, but received ${show(frame)}${later}`, actual: frame, expected, operator: 'expect' });
    }
    const pending = this.session.codec.pendingBytes;
    const partial = pending > 0 ? `; ${pending} bytes of an unfinished frame arrived` : '';
    const state = inbox.reason === undefined ? `nothing arrived within ${timeout} ms${partial}` : `the connection closed (${showReason(inbox.reason)}) with nothing more received${partial}`;
    throw new AssertionError({ message: `expected ${show(expected)}, but ${state}`, actual: undefined, expected, operator: 'expect' });
  }

  /**
   * Waits for the connection to close and checks why: `'peer-end'` (the server closed its side),
   * `'peer-reset'`, `'limit'`, ... or `{ cause, code }`; with nothing given, any close will do.
   * Resolves with the close reason.
   * @throws {AssertionError} (rejects) when it is still open after `timeout`, or closed otherwise;
   * the message lists the frames that arrived and were never expected
   */
  async expectClose(expected?: ExpectedClose, options: ExpectOptions = {}): Promise<CloseReason> {
    const timeout = durationOption('timeout', options.timeout, this.#timeout);
    const inbox = this.#inbox;
    const want = typeof expected === 'string' ? { cause: expected } : (expected ?? {});
    const wanted = [want.cause, want.code].filter((part) => part !== undefined).join(' ') || 'any reason';
    const unread = inbox.frames.length > 0 ? `; received and never expected: ${showFrames(inbox.frames)}` : '';
    await inbox.waitFor(() => inbox.reason !== undefined, timeout);
    const reason = inbox.reason;
    if (reason === undefined) {
      const after = inbox.frames.length > 0 ? `; received instead: ${showFrames(inbox.frames)}` : '';
      throw new AssertionError({ message: `expected the connection to close (${wanted}), but it is still open after ${timeout} ms${after}`, operator: 'expectClose' });
    }
    if ((want.cause !== undefined && reason.cause !== want.cause) || (want.code !== undefined && reason.error?.code !== want.code)) {
      throw new AssertionError({ message: `expected the connection to close (${wanted}), but it closed (${showReason(reason)})${unread}`, actual: reason, expected, operator: 'expectClose' });
    }
    return reason;
  }

  /** Half-closes: our FIN goes after what was sent; the server's replies are still read until it closes. */
  halfClose(): this {
    this.session.end();
    return this;
  }

  /** Resets the connection (RST, SO_LINGER 0): the server sees ECONNRESET. Resolves once closed. */
  reset(): Promise<CloseReason> {
    this.session.reset(CloseCause.LOCAL_DESTROY);
    return this.session.closed;
  }

  /** Stops reading: what the server sends backs up in the kernel, then in its output buffer (its backpressure and `maxBufferedOutput`). */
  stall(): this {
    this.session.pause();
    return this;
  }

  /** Reads again at full speed, after {@link stall} or {@link slowRead}. */
  resume(): this {
    this.#inbox.slowReadMs = 0;
    this.session.resume();
    return this;
  }

  /**
   * Reads slowly: after each frame, reading holds for `interval` ms, so at most one socket read
   * (up to 64 KiB) is taken per interval -- a peer that reads, but too slowly.
   */
  slowRead(options: { interval: number }): this {
    this.#inbox.slowReadMs = durationOption('interval', options?.interval, 0);
    return this;
  }

  /** Destroys the connection at once; resolves with the close reason. Done after the test in any case. */
  close(): Promise<CloseReason> {
    this.session.destroy();
    return this.session.closed;
  }
}

/**
 * Connects a {@link ScriptedClient} to `target` (a listening `TcpServer` -- its first address, a
 * wildcard one on loopback --
 * or `{ host, port }`) and registers its destruction on the test context.
 * @param t node:test's `t`, Vitest's test context, or a function registering a cleanup
 * @throws {OpError} (rejects) as `connectTcp` does
 * @example
 * const client = await scriptedClient(t, server, { codec: 'length' });
 * client.send(Buffer.from([1, 0x68, 0x69]));
 * await client.expect(Buffer.from([0, 0x68, 0x69]));
 */
export async function scriptedClient(t: TestCleanupContext, target: { readonly addresses: readonly BoundAddress[] } | { host?: string; port: number }, options: ScriptedClientOptions = {}): Promise<ScriptedClient> {
  const { codec, expectTimeout, ...connectOptions } = options;
  const createCodec = codecFactory(codec);
  const timeout = durationOption('expectTimeout', expectTimeout, DEFAULT_EXPECT_TIMEOUT);
  const bound = 'addresses' in target ? target.addresses[0] : undefined;
  // A wildcard listener is reached on the loopback of its family.
  const address = bound === undefined ? ('addresses' in target ? undefined : target) : { host: bound.address === '0.0.0.0' ? '127.0.0.1' : bound.address === '::' ? '::1' : bound.address, port: bound.port };
  if (address === undefined) throw new InvalidOptionError('target', 'must be a listening server or { host, port }', target);
  const inbox = new Inbox();
  const session = await connectTcp(
    { host: address.host ?? '127.0.0.1', port: address.port, ...connectOptions },
    framed(createCodec, {
      frame: (_session, frame) => inbox.arrived(frame),
      close: (_session, reason) => inbox.closedWith(reason),
    }),
  );
  registerCleanup(t, () => {
    session.destroy();
    return session.closed;
  });
  return new ScriptedClient(session, inbox, timeout);
}
