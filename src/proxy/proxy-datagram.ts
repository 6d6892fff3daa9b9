/**
 * The PROXY protocol on a UDP server: a v2 header with the DGRAM transport at the start of every
 * datagram from a trusted source (the spec's datagram form, as go-proxyproto reads it). The
 * datagram then reports the client; replies go back to the balancer, with no header. There is no
 * flow table: each datagram stands alone.
 */
import { ErrorCode } from '../core/errors.ts';
import type { AddressFamily } from '../net/addresses.ts';
import type { RelayedDatagram } from '../udp/datagram.ts';
import type { DatagramUnwrapper, UdpEndpoint } from '../udp/udp-endpoint.ts';
import { DropCause } from '../udp/udp-ledger.ts';
import { proxyHeaderChannel } from '../server/diagnostics.ts';
import { endsAfterHeader, proxyHeaderMessage, proxyInfoOf } from './proxy-info.ts';
import { ProxyProtocolError } from './proxy-error.ts';
import type { NormalizedProxyProtocol } from './proxy-options.ts';
import { checkedParserOptions, parseProxyHeader, type ProxyParserOptions } from './proxy-parser.ts';
import { ProxyCounters, type ProxyStats } from './proxy-stats.ts';

/** A UDP server's PROXY protocol: the trust decision and the header of each datagram, and the counters. @internal */
export class UdpProxyProtocol implements DatagramUnwrapper {
  readonly #options: NormalizedProxyProtocol;
  readonly #parser: ProxyParserOptions;
  readonly #counters = new ProxyCounters();
  /** The server, as `switchboard.proxy.header` names it. */
  readonly #server: object;

  constructor(options: NormalizedProxyProtocol, server: object) {
    this.#options = options;
    this.#server = server;
    this.#parser = checkedParserOptions({ versions: [2], maxHeaderBytes: options.maxHeaderBytes });
  }

  unwrap(data: Buffer, address: string, port: number, family: AddressFamily, local: UdpEndpoint): RelayedDatagram | DropCause | undefined {
    const counters = this.#counters;
    if (!this.#options.trusts(address, family)) {
      if (this.#options.untrusted === 'direct') {
        counters.direct++;
        return undefined;
      }
      counters.refused++;
      return DropCause.PROXY_UNTRUSTED;
    }
    const result = parseProxyHeader(data, this.#parser);
    const real = { remoteAddress: address, remotePort: port, remoteFamily: family, localAddress: local.localAddress, localPort: local.localPort, localFamily: local.localFamily };
    if (result.state === 'failed') {
      counters.failed(result.error.code);
      if (proxyHeaderChannel.hasSubscribers) proxyHeaderChannel.publish(proxyHeaderMessage(this.#server, 'udp', real, undefined, result.error));
      return DropCause.PROXY_HEADER;
    }
    const header = result.header;
    if (header.command === 'proxy' && header.transport === 'stream') {
      // A TCP connection's header in a datagram: not the client of this datagram.
      counters.failed(ErrorCode.PROXY_BAD_HEADER);
      if (proxyHeaderChannel.hasSubscribers) {
        const error = new ProxyProtocolError(ErrorCode.PROXY_BAD_HEADER, 2, 'a STREAM (TCP) header in a datagram');
        proxyHeaderChannel.publish(proxyHeaderMessage(this.#server, 'udp', real, undefined, error));
      }
      return DropCause.PROXY_HEADER;
    }
    counters.parsed(header);
    if (proxyHeaderChannel.hasSubscribers) proxyHeaderChannel.publish(proxyHeaderMessage(this.#server, 'udp', real, header, undefined));
    return { payload: result.rest, ...endsAfterHeader(real, header), proxy: proxyInfoOf(header, { address, port, family }) };
  }

  stats(): ProxyStats {
    return this.#counters.snapshot();
  }
}
