/**
 * One received datagram: its bytes, both ends, and `reply()`, which answers from the socket
 * it arrived on (sendto semantics) within the server's amplification limit.
 */
import type { AddressFamily } from '../addresses.ts';

/** The receiving socket, as a datagram sees it. @internal */
export interface ReplyChannel {
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: AddressFamily;
  /** Reply bytes allowed in total for a request of `requestSize` bytes. */
  replyLimit(requestSize: number): number;
  /** Sends `payload` to `address`:`port` (the kernel's form of the peer), or refuses; true when handed to the kernel. */
  sendReply(datagram: Datagram, payload: Uint8Array, address: string, port: number, allowed: number): boolean;
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
  readonly #channel: ReplyChannel;
  /** The peer as the kernel wrote it (`::ffff:127.0.0.1` on a dual-stack socket): where replies go. */
  readonly #replyAddress: string;
  #replied = 0;

  /** @internal Datagrams are made by the server. */
  constructor(channel: ReplyChannel, data: Buffer, remoteAddress: string, remotePort: number, remoteFamily: AddressFamily, replyAddress: string) {
    this.data = data;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.remoteFamily = remoteFamily;
    this.#channel = channel;
    this.#replyAddress = replyAddress;
  }

  /**
   * The local address the datagram arrived on: the bound address of the receiving socket. With
   * per-interface binding that is the address the client sent to; on a wildcard socket it is
   * the wildcard (`0.0.0.0`, `::`), since Node cannot read the destination of a datagram.
   */
  get localAddress(): string {
    return this.#channel.localAddress;
  }

  get localPort(): number {
    return this.#channel.localPort;
  }

  get localFamily(): AddressFamily {
    return this.#channel.localFamily;
  }

  /** Reply bytes still allowed for this request by the amplification limit. */
  get replyBudget(): number {
    return Math.max(0, this.#channel.replyLimit(this.data.length) - this.#replied);
  }

  /**
   * Sends `data` to the datagram's source from the socket it arrived on. Never blocks: the
   * datagram is handed to the kernel (or queued by libuv when the send buffer is full).
   * All replies to one request together may not exceed its size × `maxAmplification`, or
   * `amplificationAllowance`, whichever is larger.
   * @returns true when handed to the kernel — not delivered: UDP does not say; false when refused (counted under `amplification` or `closed`)
   */
  reply(data: Uint8Array | string): boolean {
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    const allowed = this.#channel.replyLimit(this.data.length) - this.#replied;
    if (!this.#channel.sendReply(this, payload, this.#replyAddress, this.remotePort, allowed)) return false;
    this.#replied += payload.byteLength;
    return true;
  }
}
