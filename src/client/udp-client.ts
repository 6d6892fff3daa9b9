/**
 * Request/response over UDP to one server: `connectUdp` and {@link UdpClient.request}, with
 * retries on an exponential back-off. Replies count only from the address the request went to:
 * over IPv4 a connected socket (the kernel drops the rest and reports ICMP port unreachable as
 * a refusal); over IPv6 an unconnected socket whose replies are checked by source, as the CE
 * procedure warns -- a multi-homed server may answer from another address, and a connected
 * IPv6 socket would silently lose that reply.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { ErrorCode, InvalidOptionError, OpError, SwitchboardError, type OpContext } from '../core/errors.ts';
import { booleanOption, durationOption, functionOption, integerOption, numberOption, optionNames, optionsObject, signalOption } from '../core/options.ts';
import { lookupAll, type AddressFamily, type LookupFunction } from '../net/addresses.ts';
import { canonicalIPv6 } from '../net/ip-address.ts';
import { dialError } from './dial-error.ts';
import { hostOption, serverPortOption } from './tcp-client-options.ts';
import { nodeDgram } from '../core/builtins.ts';

/** Options of `connectUdp`. */
export interface UdpClientOptions {
  /** The server: a host name (its first address is used) or an IP address. @default 'localhost' */
  host?: string;
  /** The server's port, 1-65535. */
  port: number;
  /** Resolves `host`. @default dns.lookup with `all: true`, `order: 'verbatim'` */
  lookup?: LookupFunction;
  /** The local address to send from. @default any address of the server's family */
  localAddress?: string;
  /** IPv4 only: connect the socket (the kernel filters sources and reports ICMP refusals). `false` checks sources itself, as over IPv6. @default true */
  connect?: boolean;
}

/** Options of {@link UdpClient.request}. */
export interface UdpRequestOptions {
  /** How long the first attempt waits for a reply, in ms; each retry waits `backoff` times longer than the one before. @default 1000 */
  timeout?: number;
  /** Attempts after the first. @default 2 */
  retries?: number;
  /** The factor by which each retry's wait grows (>= 1). @default 2 */
  backoff?: number;
  /** Which reply answers this request (a reply from the right source it refuses is ignored, counted in `stats().ignored`). @default every reply */
  match?(reply: Buffer, request: Buffer): boolean;
  /** Aborting it rejects the request (the reason as the error); the client stays usable. */
  signal?: AbortSignal;
}

/** What a {@link UdpClient} counts. */
export interface UdpClientStats {
  /** Requests made (`request()` calls). */
  readonly requests: number;
  /** Datagrams sent: every attempt of every request, and `send()`s. */
  readonly datagramsOut: number;
  /** Replies that resolved a request. */
  readonly replies: number;
  /** Datagrams dropped: from another source, refused by `match`, or arriving with no request waiting. */
  readonly ignored: number;
}

const CLIENT_OPTION_NAMES = optionNames<UdpClientOptions>({ host: true, port: true, lookup: true, localAddress: true, connect: true });
const REQUEST_OPTION_NAMES = optionNames<UdpRequestOptions>({ timeout: true, retries: true, backoff: true, match: true, signal: true });

interface PendingRequest {
  readonly data: Buffer;
  readonly match: ((reply: Buffer, request: Buffer) => boolean) | undefined;
  resolve(reply: Buffer): void;
  reject(error: SwitchboardError): void;
}

/**
 * A UDP client of one server. Requests are sent one at a time, in call order: a reply answers
 * the request waiting, so a late reply to an earlier request that gave up could answer the next
 * one -- give `match` when the protocol carries an id.
 */
export class UdpClient {
  /** The server's address and port, and its family. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: AddressFamily;
  /** Whether the socket is connected (IPv4 with `connect`), else replies are checked by source. */
  readonly connected: boolean;
  readonly #socket: Socket;
  #pending: PendingRequest | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #requests = 0;
  #datagramsOut = 0;
  #replies = 0;
  #ignored = 0;

  /** @internal Made by {@link connectUdp}. */
  constructor(socket: Socket, address: string, port: number, family: AddressFamily, connected: boolean) {
    this.#socket = socket;
    this.remoteAddress = address;
    this.remotePort = port;
    this.remoteFamily = family;
    this.connected = connected;
    socket.on('message', (message: Buffer, from: RemoteInfo) => this.#received(message, from));
    socket.on('error', (error: Error) => this.#socketError(error));
  }

  /** The local address and port the client sends from. */
  get localAddress(): string {
    return this.#socket.address().address;
  }
  get localPort(): number {
    return this.#socket.address().port;
  }

  /** Counts of requests, datagrams sent, replies and datagrams ignored. */
  stats(): UdpClientStats {
    return { requests: this.#requests, datagramsOut: this.#datagramsOut, replies: this.#replies, ignored: this.#ignored };
  }

  /**
   * Sends `data` and resolves with the first reply from the server's address, sending again
   * after `timeout` ms, then `timeout x backoff`, ... for `retries` more attempts. Replies from any
   * other source are ignored (and counted). Requests queue behind each other.
   * @throws {OpError} (rejects) `SWB_ERR_REQUEST_TIMEOUT` when no attempt got a reply;
   * `SWB_ERR_CONNECTION_REFUSED` when the server's host answered ICMP port unreachable (connected
   * sockets only); `SWB_ERR_SEND_FAILED`/`SWB_ERR_HOST_UNREACHABLE` when a send failed;
   * `SWB_ERR_SESSION_CLOSED` once the client is closed
   * @throws {InvalidOptionError} (rejects) `SWB_ERR_INVALID_OPTION` for bad options
   * @example
   * const reply = await client.request(Buffer.from('ping'), { timeout: 200, retries: 3 });
   */
  request(data: string | Uint8Array, options?: UdpRequestOptions): Promise<Buffer> {
    let settings: ReturnType<typeof normalizeRequestOptions>;
    try {
      settings = normalizeRequestOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const payload = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.#requests++;
    const run = this.#queue.then(() => this.#attempts(payload, settings));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Sends one datagram, expecting no reply; resolves once the kernel took it (not delivery).
   * @throws {OpError} (rejects) when the send failed; `SWB_ERR_SESSION_CLOSED` once the client is closed
   */
  send(data: string | Uint8Array): Promise<void> {
    return this.#send(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** Closes the socket; a request waiting rejects with `SWB_ERR_SESSION_CLOSED`. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#pending?.reject(this.#closedError());
      this.#pending = undefined;
      this.#socket.close(() => resolve());
    });
    return this.#closing;
  }

  /** `await using client = await connectUdp(...)` closes it. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #attempts(payload: Buffer, settings: NormalizedRequestOptions): Promise<Buffer> {
    if (this.#closing) throw this.#closedError();
    settings.signal?.throwIfAborted();
    const { promise, resolve, reject } = Promise.withResolvers<Buffer>();
    const pending: PendingRequest = { data: payload, match: settings.match, resolve, reject };
    this.#pending = pending;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => reject(settings.signal!.reason as SwitchboardError);
    settings.signal?.addEventListener('abort', onAbort, { once: true });
    let waited = 0;
    let attempt = 0;
    const next = (): void => {
      if (attempt > settings.retries) {
        const total = Math.round(waited);
        return reject(new OpError(this.#context('request'), ErrorCode.REQUEST_TIMEOUT, `no reply after ${attempt} attempt${attempt === 1 ? '' : 's'} (${total} ms)`));
      }
      const wait = settings.timeout * settings.backoff ** attempt++;
      waited += wait;
      this.#send(payload).catch(reject);
      timer = setTimeout(next, wait);
    };
    next();
    try {
      return await promise;
    } finally {
      clearTimeout(timer);
      settings.signal?.removeEventListener('abort', onAbort);
      if (this.#pending === pending) this.#pending = undefined;
    }
  }

  #send(data: Uint8Array): Promise<void> {
    if (this.#closing) return Promise.reject(this.#closedError());
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const done = (error: Error | null): void => (error ? reject(dialError(this.#context('send'), error)) : resolve());
    this.#datagramsOut++;
    if (this.connected) this.#socket.send(data, done);
    else this.#socket.send(data, this.remotePort, this.remoteAddress, done);
    return promise;
  }

  #received(message: Buffer, from: RemoteInfo): void {
    const pending = this.#pending;
    const fromServer = this.connected || (from.port === this.remotePort && sameAddress(from.address, this.remoteAddress));
    if (!fromServer || pending === undefined || (pending.match !== undefined && !pending.match(message, pending.data))) {
      this.#ignored++;
      return;
    }
    this.#pending = undefined;
    this.#replies++;
    pending.resolve(message);
  }

  /** A connected socket reports the server host's ICMP port unreachable as ECONNREFUSED. */
  #socketError(error: Error): void {
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(dialError(this.#context('request'), error));
  }

  #context(op: string): OpContext {
    return { op, transport: 'udp', address: this.remoteAddress, port: this.remotePort };
  }

  #closedError(): SwitchboardError {
    return new SwitchboardError(ErrorCode.SESSION_CLOSED, `request udp ${this.remoteFamily === 'IPv6' ? `[${this.remoteAddress}]` : this.remoteAddress}:${this.remotePort}: the client is closed`);
  }
}

function sameAddress(a: string, b: string): boolean {
  return a === b || (canonicalIPv6(a) ?? a) === (canonicalIPv6(b) ?? b);
}

interface NormalizedRequestOptions {
  readonly timeout: number;
  readonly retries: number;
  readonly backoff: number;
  readonly match: ((reply: Buffer, request: Buffer) => boolean) | undefined;
  readonly signal: AbortSignal | undefined;
}

function normalizeRequestOptions(input: UdpRequestOptions | undefined): NormalizedRequestOptions {
  const options = optionsObject('options', input, REQUEST_OPTION_NAMES);
  const timeout = durationOption('timeout', options.timeout, 1000);
  if (timeout === 0) throw new InvalidOptionError('timeout', 'must be a positive number of milliseconds (a request waits that long for its reply)', timeout);
  return {
    timeout,
    retries: integerOption('retries', options.retries, 2, 0, 100),
    backoff: numberOption('backoff', options.backoff, 2, 1),
    match: functionOption('match', options.match),
    signal: signalOption(options.signal),
  };
}

/**
 * Opens a UDP client of one server: resolves `host` (its first address), then over IPv4 connects
 * the socket, over IPv6 binds an unconnected one that checks each reply's source.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` synchronously for bad options
 * @throws {OpError} (rejects) `SWB_ERR_NAME_NOT_RESOLVED`, `SWB_ERR_HOST_UNREACHABLE`, ... when the socket cannot be set up; nothing stays open
 * @example
 * await using client = await connectUdp({ host: '127.0.0.1', port: 5353 });
 * const reply = await client.request('ping', { timeout: 250, retries: 2 });
 */
export function connectUdp(options: UdpClientOptions): Promise<UdpClient> {
  if (options === undefined) throw new InvalidOptionError('options', 'are required: at least `port`', options);
  const given = optionsObject('options', options, CLIENT_OPTION_NAMES);
  const host = hostOption(given.host, 'localhost');
  const port = serverPortOption(given.port);
  const lookup = functionOption('lookup', given.lookup) ?? lookupAll;
  const connect = booleanOption('connect', given.connect, true);
  const localAddress = given.localAddress;
  if (localAddress !== undefined && isIP(localAddress) === 0) throw new InvalidOptionError('localAddress', 'must be an IP address', localAddress);
  const context: OpContext = { op: 'dial', transport: 'udp', address: host, port };
  const resolved = isIP(host) === 0 ? lookup(host).then((found) => found[0]) : Promise.resolve({ address: host, family: isIP(host) });
  return resolved.then(
    (first) => {
      if (first === undefined) throw new OpError(context, ErrorCode.NAME_NOT_RESOLVED, 'name resolved to no address');
      return openSocket(first.address, first.family === 6 ? 'IPv6' : 'IPv4', port, connect, localAddress);
    },
    (error: unknown) => {
      throw dialError(context, error);
    },
  );
}

function openSocket(address: string, family: AddressFamily, port: number, connect: boolean, localAddress: string | undefined): Promise<UdpClient> {
  const socket = nodeDgram().createSocket({ type: family === 'IPv6' ? 'udp6' : 'udp4', ipv6Only: family === 'IPv6' });
  const connected = family === 'IPv4' && connect;
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      socket.close();
      reject(dialError({ op: 'dial', transport: 'udp', address, port }, error));
    };
    socket.once('error', fail);
    const ready = (): void => {
      socket.off('error', fail);
      resolve(new UdpClient(socket, address, port, family, connected));
    };
    socket.bind({ port: 0, ...(localAddress === undefined ? {} : { address: localAddress }) }, () => {
      if (connected) socket.connect(port, address, ready);
      else ready();
    });
  });
}
