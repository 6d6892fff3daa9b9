/**
 * What a session (or a datagram) behind a balancer knows: the client the PROXY header names, in
 * place of the balancer, and the header itself with the balancer's own address beside it.
 */
import { unmapAddress, type AddressFamily } from '../net/addresses.ts';
import type { ConnectionInfo } from '../tcp/connection-info.ts';
import type { ProxyProtocolError } from './proxy-error.ts';
import type { ProxyAddress, ProxyHeader, ProxyInetAddress } from './proxy-header.ts';

/** The balancer: the real peer of the connection (or the source of the datagram), like nginx's `$realip_remote_addr`. */
export interface ProxyPeer {
  readonly address: string;
  readonly port: number;
  readonly family: AddressFamily;
}

/**
 * `session.proxy` and `datagram.proxy`: the PROXY header as parsed (version, command, family,
 * transport, `source`, `destination`, TLVs) and `peer`, the balancer that sent it.
 */
export interface ProxyInfo extends ProxyHeader {
  readonly peer: ProxyPeer;
}

/** Both ends of a connection or datagram, as the server reports them. @internal */
export type Ends = Omit<ConnectionInfo, 'proxy'>;

/**
 * The ends to report after `header`: the header's source and destination when it attributes the
 * connection to an IP client (the PROXY command with an IPv4 or IPv6 family), else the real ends
 * (LOCAL, UNSPEC, v1 UNKNOWN, and UNIX sources, which have no address to report: their path is in
 * `proxy.source`). Addresses are unmapped, as for a direct peer. @internal
 */
export function endsAfterHeader(real: Ends, header: ProxyHeader): Ends {
  const source = inet(header.source);
  const destination = inet(header.destination);
  if (source === undefined || destination === undefined) return real;
  const remote = unmapAddress(source.address, source.family);
  const local = unmapAddress(destination.address, destination.family);
  return {
    remoteAddress: remote.address,
    remotePort: source.port,
    remoteFamily: remote.family,
    localAddress: local.address,
    localPort: destination.port,
    localFamily: local.family,
  };
}

/**
 * The `switchboard.proxy.header` message (ProxyHeaderMessage) for one header read or refused.
 * Build it only when the channel has subscribers. @internal
 */
export function proxyHeaderMessage(server: object, transport: 'tcp' | 'udp', real: Ends, header: ProxyHeader | undefined, error: ProxyProtocolError | undefined) {
  const balancer: ProxyPeer = { address: real.remoteAddress, port: real.remotePort, family: real.remoteFamily };
  const ends = header === undefined ? real : endsAfterHeader(real, header);
  const named = ends !== real;
  return {
    server,
    transport,
    balancer,
    client: named ? { address: ends.remoteAddress, port: ends.remotePort, family: ends.remoteFamily } : undefined,
    destination: named ? { address: ends.localAddress, port: ends.localPort, family: ends.localFamily } : undefined,
    version: header?.version ?? error?.version,
    header,
    error,
  };
}

/**
 * What a session behind a balancer reports, built as one object: the ends after `header` (as
 * {@link endsAfterHeader} gives them) and `proxy`, the header with `real`'s remote end as the
 * balancer. An IPv4 end (the common case) is taken as it is; only IPv6 ones are unmapped. @internal
 */
export function proxiedConnectionInfo(real: Ends, header: ProxyHeader): ConnectionInfo {
  const proxy = proxyInfoOf(header, { address: real.remoteAddress, port: real.remotePort, family: real.remoteFamily });
  const source = inet(header.source);
  const destination = inet(header.destination);
  if (source === undefined || destination === undefined) {
    return { remoteAddress: real.remoteAddress, remotePort: real.remotePort, remoteFamily: real.remoteFamily, localAddress: real.localAddress, localPort: real.localPort, localFamily: real.localFamily, proxy };
  }
  const remote = source.family === 'IPv4' ? source : unmapAddress(source.address, source.family);
  const local = destination.family === 'IPv4' ? destination : unmapAddress(destination.address, destination.family);
  return { remoteAddress: remote.address, remotePort: source.port, remoteFamily: remote.family, localAddress: local.address, localPort: destination.port, localFamily: local.family, proxy };
}

/** `header` with the balancer that sent it. @internal */
export function proxyInfoOf(header: ProxyHeader, peer: ProxyPeer): ProxyInfo {
  // Spelt out rather than spread: one literal of one shape, built without a generic copy.
  const { version, command, family, transport, source, destination, tlvs } = header;
  return { version, command, family, transport, source, destination, tlvs, peer };
}

function inet(address: ProxyAddress | undefined): ProxyInetAddress | undefined {
  return address !== undefined && address.family !== 'unix' ? address : undefined;
}
