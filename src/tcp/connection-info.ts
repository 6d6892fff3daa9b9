/**
 * The addresses of an accepted connection, read once at accept time and reported unmapped
 * (an IPv4 peer on a dual-stack socket is `127.0.0.1`, family IPv4).
 */
import type { Socket } from 'node:net';
import { isWildcardHost, unmapAddress, type AddressFamily } from '../net/addresses.ts';
import { mappedIPv4 } from '../net/ip-address.ts';
import type { ProxyInfo } from '../proxy/proxy-info.ts';

/**
 * Both ends of an accepted connection. Behind a trusted balancer (the `proxyProtocol` option) they
 * are the ends the PROXY header names, and `proxy` holds the header and the balancer's address.
 */
export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: AddressFamily;
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: AddressFamily;
  /** The PROXY header the connection began with, and `peer`, the balancer; absent on a direct connection. */
  readonly proxy?: ProxyInfo | null;
}

/** The listening address a connection arrived on. */
export interface ListeningAddress {
  readonly address: string;
  readonly port: number;
  readonly family: AddressFamily;
}

/**
 * Reads both ends of a freshly accepted socket, or returns undefined when the peer's address
 * cannot be read: the connection was reset before the server handled it, and has already gone.
 * The peer's address is read at once (one getpeername), while the socket still has it, so a close
 * handler can always name the peer even after a reset. The local end is the listener's own
 * address unless the listener is a wildcard, which saves a getsockname per connection.
 */
export function readConnectionInfo(socket: Socket, listening: ListeningAddress): ConnectionInfo | undefined {
  const address = socket.remoteAddress;
  if (address === undefined) return undefined;
  const remotePort = socket.remotePort ?? 0;
  // The peer is unmapped in place (what unmapAddress does, without its result object), and a
  // named listener is its own local end: for the usual connection only the info object is made.
  let remoteAddress = address;
  let remoteFamily: AddressFamily = 'IPv4';
  if (socket.remoteFamily === 'IPv6') {
    const ipv4 = mappedIPv4(address);
    if (ipv4 === undefined) remoteFamily = 'IPv6';
    else remoteAddress = ipv4;
  }
  const local = isWildcardHost(listening.address) ? unmapAddress(socket.localAddress ?? '', socket.localFamily ?? '') : listening;
  return { remoteAddress, remotePort, remoteFamily, localAddress: local.address, localPort: listening.port, localFamily: local.family };
}

/**
 * What a `rejected` event reports for a connection that was gone before its addresses could be
 * read: no peer (`remoteAddress` is empty, `remotePort` 0), and the listener's own address.
 */
export function goneConnectionInfo(listening: ListeningAddress): ConnectionInfo {
  return {
    remoteAddress: '',
    remotePort: 0,
    remoteFamily: listening.family,
    localAddress: listening.address,
    localPort: listening.port,
    localFamily: listening.family,
  };
}
