/**
 * The addresses of an accepted connection, read once at accept time and reported unmapped
 * (an IPv4 peer on a dual-stack socket is `127.0.0.1`, family IPv4).
 */
import type { Socket } from 'node:net';
import { unmapAddress, type AddressFamily } from './addresses.ts';

/** Both ends of an accepted connection. */
export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: AddressFamily;
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: AddressFamily;
}

/** Reads both ends of a freshly accepted socket (one getpeername, one getsockname). */
export function readConnectionInfo(socket: Socket): ConnectionInfo {
  const remote = unmapAddress(socket.remoteAddress ?? '', socket.remoteFamily ?? '');
  const local = unmapAddress(socket.localAddress ?? '', socket.localFamily ?? '');
  return {
    remoteAddress: remote.address,
    remotePort: socket.remotePort ?? 0,
    remoteFamily: remote.family,
    localAddress: local.address,
    localPort: socket.localPort ?? 0,
    localFamily: local.family,
  };
}
