/**
 * One received datagram: its bytes, both ends, and `reply()`, which answers from the socket
 * it arrived on (sendto semantics) within the server's amplification limit.
 */
import type { AddressFamily } from '../net/addresses.ts';
import type { Ends, ProxyInfo } from '../proxy/proxy-info.ts';

/**
 * The IP and UDP header bytes of one datagram on the wire, by family (20 + 8 for IPv4, 40 + 8 for
 * IPv6, without options or extension headers): what amplification and the reply rate count besides
 * the payload. @internal
 */
export const UDP_HEADER_BYTES = Object.freeze({ IPv4: 28, IPv6: 48 });

/** What the PROXY header of a datagram from a trusted balancer said: its payload and the client's ends. @internal */
export interface RelayedDatagram extends Ends {
  readonly payload: Buffer;
  readonly proxy: ProxyInfo;
}

/** The receiving socket, as a datagram sees it. @internal */
export interface ReplyChannel {
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: AddressFamily;
  /** Reply bytes on the wire allowed in total for a request of `requestWireSize` bytes on the wire. */
  replyLimit(requestWireSize: number): number;
  /**
   * Sends `payload` to `address`:`port` (the kernel's form of the peer), or refuses it: over
   * `room`, the payload bytes this request's limit still allows. True when handed to the kernel.
   */
  sendReply(datagram: Datagram, payload: Uint8Array, address: string, port: number, room: number): boolean;
}

/**
 * A datagram received by a {@link UdpServer}. Addresses are unmapped: an IPv4 peer on a
 * dual-stack socket is `127.0.0.1`, family `IPv4`.
 *
 * Errors: `reply()` never throws for network reasons; it returns false when the reply is
 * refused (amplification limit, server closed), and a failure the kernel reports later is an
 * `error` event (`SWB_ERR_SEND_FAILED`) that concerns this reply only.
 * @example
 * await listenUdp({ host: 'localhost', port: 7007 }, {
 *   message(datagram) { datagram.reply(datagram.data); },
 * });
 */
export class Datagram {
  /** The payload, as received. */
  readonly data: Buffer;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: AddressFamily;
  /**
   * Behind a trusted balancer (`proxyProtocol`): the PROXY header and `peer`, the balancer, to
   * which replies go; the remote and local ends are then the header's. `null` for a direct datagram.
   */
  readonly proxy: ProxyInfo | null;
  readonly #channel: ReplyChannel;
  /** The local ends a PROXY header named, if any. */
  readonly #relayed: RelayedDatagram | undefined;
  /** The peer as the kernel wrote it (`::ffff:127.0.0.1` on a dual-stack socket): where replies go. */
  readonly #replyAddress: string;
  readonly #replyPort: number;
  /** IP + UDP header bytes of each datagram to and from this peer. */
  readonly #headerBytes: number;
  /** Reply bytes sent so far, on the wire. */
  #repliedWire = 0;

  /** @internal Datagrams are made by the server. */
  constructor(channel: ReplyChannel, data: Buffer, remoteAddress: string, remotePort: number, remoteFamily: AddressFamily, replyAddress: string, relayed?: RelayedDatagram) {
    this.#channel = channel;
    this.#replyAddress = replyAddress;
    this.#replyPort = remotePort;
    // Replies go to the sender (the balancer, when relayed): its family sizes their headers.
    this.#headerBytes = UDP_HEADER_BYTES[remoteFamily];
    this.#relayed = relayed;
    if (relayed === undefined) {
      this.data = data;
      this.remoteAddress = remoteAddress;
      this.remotePort = remotePort;
      this.remoteFamily = remoteFamily;
      this.proxy = null;
    } else {
      this.data = relayed.payload;
      this.remoteAddress = relayed.remoteAddress;
      this.remotePort = relayed.remotePort;
      this.remoteFamily = relayed.remoteFamily;
      this.proxy = relayed.proxy;
    }
  }

  /**
   * The local address the datagram arrived on: the bound address of the receiving socket. With
   * per-interface binding that is the address the client sent to; on a wildcard socket it is
   * the wildcard (`0.0.0.0`, `::`), since Node cannot read the destination of a datagram.
   */
  get localAddress(): string {
    return this.#relayed?.localAddress ?? this.#channel.localAddress;
  }

  get localPort(): number {
    return this.#relayed?.localPort ?? this.#channel.localPort;
  }

  get localFamily(): AddressFamily {
    return this.#relayed?.localFamily ?? this.#channel.localFamily;
  }

  /**
   * The largest payload one more reply to this request may carry under the amplification limit
   * (its header counted): 56 bytes for a first reply to an empty IPv4 request with the default
   * `maxAmplification` of 3. `Infinity` when the guard is off.
   */
  get replyBudget(): number {
    return Math.max(0, this.#room());
  }

  /**
   * Sends `data` to the datagram's source from the socket it arrived on. Never blocks: the
   * datagram is handed to the kernel (or queued by libuv when the send buffer is full).
   * All replies to one request together, measured on the wire (each with its IP and UDP header),
   * may not exceed `maxAmplification` x the request's size on the wire; and every reply spends
   * the server's `replyRateLimit`.
   * @returns true when handed to the kernel -- not delivered: UDP does not say; false when refused (counted under `amplification`, `reply-rate-limit` or `closed`)
   */
  reply(data: Uint8Array | string): boolean {
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (!this.#channel.sendReply(this, payload, this.#replyAddress, this.#replyPort, this.#room())) return false;
    this.#repliedWire += payload.byteLength + this.#headerBytes;
    return true;
  }

  #room(): number {
    const header = this.#headerBytes;
    return this.#channel.replyLimit(this.data.length + header) - this.#repliedWire - header;
  }
}
