/**
 * One bound UDP socket of a server: binding it (the dgram side of `bindGroup`), the receive
 * path (size check, per-source rate limit, delivery) and the reply path (amplification limit,
 * server-wide reply rate, sendto from this very socket). Both paths are per-datagram hot code: no closures, no clock.
 */
import type { RemoteInfo, Socket, SocketOptions } from 'node:dgram';
import { unmapAddress, type AddressFamily, type ListenTarget } from '../net/addresses.ts';
import { ErrorCode, OpError, opErrorFromSystem, type SwitchboardError } from '../core/errors.ts';
import type { BoundAddress, BoundSocket, SocketOrigin } from '../net/listener-group.ts';
import { Datagram, UDP_HEADER_BYTES, type RelayedDatagram, type ReplyChannel } from './datagram.ts';
import { sourceKey, type ReplyRateLimiter, type SourceRateLimiter } from '../limits/source-rate-limiter.ts';
import { DropCause, type UdpLedger } from './udp-ledger.ts';
import type { NormalizedUdpServerOptions } from './udp-options.ts';
import { adoptDatagramFd, datagramTypeOf, type ListenFd } from '../net/listen-fds.ts';
import { passedBoundAddress } from '../net/passed-sockets.ts';
import { nodeDgram } from '../core/builtins.ts';

/**
 * The PROXY protocol of a UDP server (src/proxy/proxy-datagram.ts), as the receive path sees it:
 * for a datagram from `address`:`port` to the socket's `local` end, `undefined` to serve it as it
 * came, a cause to drop it, or what its header says. @internal
 */
export interface DatagramUnwrapper {
  unwrap(data: Buffer, address: string, port: number, family: AddressFamily, local: UdpEndpoint): RelayedDatagram | DropCause | undefined;
}

/** What an endpoint needs from its server. @internal */
export interface EndpointContext {
  /** The `proxyProtocol` option, when given. */
  readonly proxy: DatagramUnwrapper | undefined;
  readonly ledger: UdpLedger;
  readonly limiter: SourceRateLimiter | undefined;
  /** The server-wide reply bucket, shared by every socket; undefined for no limit. */
  readonly replyLimiter: ReplyRateLimiter | undefined;
  readonly maxDatagramSize: number;
  readonly maxAmplification: number;
  deliver(datagram: Datagram): void;
  report(error: SwitchboardError): void;
  /** This endpoint has no send in flight any more (graceful close waits for that). */
  sendSettled(): void;
}

/** A bound socket serving datagrams. @internal */
export class UdpEndpoint implements ReplyChannel {
  readonly socket: Socket;
  readonly address: BoundAddress;
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: AddressFamily;
  /** Resolves when the socket's handle is closed. */
  readonly closed: Promise<void>;
  readonly #context: EndpointContext;
  /** Only a dual-stack `::` socket sees IPv4 peers, as `::ffff:a.b.c.d`. */
  readonly #mayBeMapped: boolean;
  #pendingSends = 0;
  #open = true;
  #receiving = false;
  #closing: Promise<void> | undefined;

  constructor(bound: BoundSocket<Socket>, context: EndpointContext) {
    this.socket = bound.handle;
    this.address = bound.address;
    this.localAddress = bound.address.address;
    this.localPort = bound.address.port;
    this.localFamily = bound.address.family;
    this.#context = context;
    this.#mayBeMapped = bound.target.family === 'IPv6' && !bound.target.ipv6Only;
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** Replies handed to the kernel whose completion has not been reported yet. */
  get pendingSends(): number {
    return this.#pendingSends;
  }

  /** Starts delivering datagrams and reporting socket errors. */
  start(): void {
    this.#receiving = true;
    this.socket.on('message', this.#onMessage);
    this.socket.on('error', this.#onError);
  }

  /** Delivers nothing more; replies may still be sent until {@link close}. */
  stopReceiving(): void {
    this.#receiving = false;
    this.socket.off('message', this.#onMessage);
  }

  /**
   * Serves a datagram another process read from this very socket (a copy of its fd), as if it
   * had been read here; false, and nothing counted, when this endpoint receives no more.
   */
  receive(data: Buffer, remote: RemoteInfo): boolean {
    if (!this.#receiving) return false;
    this.#onMessage(data, remote);
    return true;
  }

  /** Closes the socket once; replies still queued in libuv are cancelled (counted as `closed`). */
  close(): Promise<void> {
    this.#open = false;
    this.#closing ??= closeUdpSocket(this.socket);
    return this.#closing;
  }

  replyLimit(requestWireSize: number): number {
    const factor = this.#context.maxAmplification;
    return factor === Infinity ? Infinity : Math.floor(requestWireSize * factor);
  }

  sendReply(datagram: Datagram, payload: Uint8Array, address: string, port: number, room: number): boolean {
    const context = this.#context;
    if (!this.#open) {
      context.ledger.drop(DropCause.CLOSED);
      return false;
    }
    if (payload.byteLength > room) {
      context.ledger.drop(DropCause.AMPLIFICATION);
      context.report(amplificationError(datagram, payload.byteLength, room, context.maxAmplification));
      return false;
    }
    // Counted, not reported one by one: the budget runs dry under a flood, when each report would cost most.
    if (context.replyLimiter !== undefined && !context.replyLimiter.take(payload.byteLength + UDP_HEADER_BYTES[datagram.remoteFamily])) {
      context.ledger.drop(DropCause.REPLY_RATE_LIMIT);
      return false;
    }
    this.socket.send(payload, port, address, this.#onSent);
    this.#pendingSends++;
    return true;
  }

  readonly #onMessage = (data: Buffer, remote: RemoteInfo): void => {
    const context = this.#context;
    const ledger = context.ledger;
    ledger.datagramsIn++;
    ledger.bytesIn += data.length;
    if (data.length > context.maxDatagramSize) return ledger.drop(DropCause.TOO_LARGE);
    let address = remote.address;
    let family: AddressFamily = this.localFamily;
    if (this.#mayBeMapped && address.startsWith('::ffff:')) ({ address, family } = unmapAddress(address, 'IPv6'));
    let relayed: RelayedDatagram | undefined;
    if (context.proxy !== undefined) {
      const unwrapped = context.proxy.unwrap(data, address, remote.port, family, this);
      if (typeof unwrapped === 'string') return ledger.drop(unwrapped);
      relayed = unwrapped;
    }
    // Behind a balancer the per-source limit is the client's.
    const source = relayed === undefined ? address : relayed.remoteAddress;
    const sourceFamily = relayed === undefined ? family : relayed.remoteFamily;
    const limiter = context.limiter;
    if (limiter !== undefined && !limiter.admit(sourceFamily === 'IPv4' ? source : sourceKey(source, sourceFamily), data.length)) {
      return ledger.drop(DropCause.RATE_LIMIT);
    }
    context.deliver(new Datagram(this, data, address, remote.port, family, remote.address, relayed));
  };

  readonly #onSent = (error: Error | null, bytes: number): void => {
    this.#pendingSends--;
    const context = this.#context;
    if (error === null || error === undefined) {
      context.ledger.datagramsOut++;
      context.ledger.bytesOut += bytes;
    } else if (!this.#open) {
      context.ledger.drop(DropCause.CLOSED);
    } else {
      context.ledger.drop(DropCause.SEND_FAILED);
      context.report(sendError(error));
    }
    if (this.#pendingSends === 0) context.sendSettled();
  };

  readonly #onError = (error: Error): void => {
    this.#context.report(opErrorFromSystem({ op: 'read', transport: 'udp', address: this.localAddress, port: this.localPort }, error));
  };
}

function amplificationError(datagram: Datagram, size: number, room: number, factor: number): OpError {
  const requestWire = datagram.data.length + UDP_HEADER_BYTES[datagram.remoteFamily];
  return new OpError(
    { op: 'send', transport: 'udp', address: datagram.remoteAddress, port: datagram.remotePort },
    ErrorCode.AMPLIFICATION_REFUSED,
    `reply of ${size} bytes refused: ${Math.max(0, room)} more bytes allowed for a ${datagram.data.length}-byte request (maxAmplification ${factor} \u00d7 its ${requestWire} bytes on the wire, headers included)`,
  );
}

function sendError(error: Error): OpError {
  // Node's send errors carry the destination as the kernel saw it.
  const { address: raw, port } = error as Error & { address?: string; port?: number };
  const address = raw === undefined ? undefined : unmapAddress(raw, raw.includes(':') ? 'IPv6' : 'IPv4').address;
  return opErrorFromSystem({ op: 'send', transport: 'udp', address, port }, error, ErrorCode.SEND_FAILED);
}

type LiteralLookup = (address: string, family: number, callback: (error: Error | null, address: string, family: number) => void) => void;

/**
 * Every address a server binds or sends to is a literal (resolved at listen, or a datagram's
 * source), so the name lookup dgram performs on each `send()` is skipped: it would only defer
 * each reply by a tick.
 */
const literalLookup: LiteralLookup = (address, family, callback) => callback(null, address, family);

/** The socket settings `bindUdpSocket` applies. @internal */
export type UdpBindOptions = Pick<NormalizedUdpServerOptions, 'reuseAddress' | 'reusePort' | 'recvBufferSize' | 'sendBufferSize'>;

/**
 * Creates and binds one dgram socket for `target`; on failure the socket is closed before the
 * promise rejects with the system error (so a failed group leaves no handle behind).
 */
export function bindUdpSocket(target: ListenTarget, port: number, options: UdpBindOptions): Promise<{ handle: Socket; port: number }> {
  return new Promise((resolve, reject) => {
    const settings: SocketOptions = {
      type: target.family === 'IPv6' ? 'udp6' : 'udp4',
      reuseAddr: options.reuseAddress,
      ipv6Only: target.family === 'IPv6' && target.ipv6Only,
      lookup: literalLookup as unknown as SocketOptions['lookup'],
    };
    if (options.reusePort) settings.reusePort = true;
    if (options.recvBufferSize !== undefined) settings.recvBufferSize = options.recvBufferSize;
    if (options.sendBufferSize !== undefined) settings.sendBufferSize = options.sendBufferSize;
    let socket: Socket;
    try {
      socket = nodeDgram().createSocket(settings);
    } catch (error) {
      reject(error);
      return;
    }
    const onError = (error: Error): void => {
      socket.off('listening', onListening);
      void closeUdpSocket(socket).then(() => reject(error));
    };
    const onListening = (): void => {
      socket.off('error', onError);
      resolve({ handle: socket, port: socket.address().port });
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    try {
      // `exclusive`: never share the handle with cluster workers.
      socket.bind({ port, address: target.host, exclusive: true });
    } catch (error) {
      // With a synchronous lookup, a failure to apply the buffer sizes surfaces here.
      onError(error as Error);
    }
  });
}

/**
 * Creates a dgram socket on a passed datagram fd (the `systemd` or `fds` option), with the buffer sizes
 * asked for; closing the socket closes the fd. On failure the socket is closed before the
 * promise rejects with the coded error.
 * @throws {ActivationError} (rejects) `SWB_ERR_ACTIVATION_FD_TYPE`, `SWB_ERR_ACTIVATION_FD_TAKEN`
 */
export async function adoptUdpSocket(fd: ListenFd, options: UdpBindOptions, origin: SocketOrigin = 'systemd'): Promise<{ handle: Socket; address: BoundAddress }> {
  const settings: SocketOptions = { type: datagramTypeOf(fd), lookup: literalLookup as unknown as SocketOptions['lookup'] };
  if (options.recvBufferSize !== undefined) settings.recvBufferSize = options.recvBufferSize;
  if (options.sendBufferSize !== undefined) settings.sendBufferSize = options.sendBufferSize;
  const socket = nodeDgram().createSocket(settings);
  try {
    return { handle: socket, address: passedBoundAddress(await adoptDatagramFd(socket, fd), origin) };
  } catch (error) {
    await closeUdpSocket(socket);
    throw error;
  }
}

/** Closes a dgram socket once; resolves when its handle is closed. */
export function closeUdpSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
