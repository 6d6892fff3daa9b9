/**
 * The two endpoints of a header to encode, checked once and reduced to the bytes both versions
 * write; and the UNIX path text a v2 address block holds.
 */
import { InvalidOptionError } from '../core/errors.ts';
import { parseStrictIPv4, parseStrictIPv6 } from '../net/ip-address.ts';
import type { ProxyAddressInit } from './proxy-header.ts';
import { UNIX_PATH_LENGTH } from './proxy-header.ts';
import { readUtf8, utf8Bytes } from './wire-text.ts';

/** An IPv4 or IPv6 pair: 4 or 16 address bytes and a port each. */
export interface InetEndpoints {
  family: 'IPv4' | 'IPv6';
  source: { bytes: Buffer; port: number };
  destination: { bytes: Buffer; port: number };
}

/** A UNIX pair: 108 path bytes each. */
export interface UnixEndpoints {
  family: 'unix';
  source: { bytes: Buffer };
  destination: { bytes: Buffer };
}

/** Checked endpoints, or undefined when the header names none. */
export type Endpoints = InetEndpoints | UnixEndpoints;

/**
 * Checks `source` and `destination` (both or neither, one family) and returns their bytes.
 * @throws {InvalidOptionError} naming the endpoint and the constraint
 */
export function normalizeEndpoints(source: ProxyAddressInit | undefined, destination: ProxyAddressInit | undefined): Endpoints | undefined {
  if (source === undefined && destination === undefined) return undefined;
  if (source === undefined || destination === undefined) {
    throw new InvalidOptionError(source === undefined ? 'source' : 'destination', 'must be given with the other endpoint, or both left out', undefined);
  }
  const from = endpointBytes('source', source);
  const to = endpointBytes('destination', destination);
  if (from.family !== to.family) throw new InvalidOptionError('destination', `must be of the source's family (${from.family})`, to.family);
  if (from.family === 'unix' || to.family === 'unix') return { family: 'unix', source: { bytes: from.bytes }, destination: { bytes: to.bytes } };
  return { family: from.family, source: { bytes: from.bytes, port: from.port }, destination: { bytes: to.bytes, port: to.port } };
}

type EndpointBytes = { family: 'IPv4' | 'IPv6'; bytes: Buffer; port: number } | { family: 'unix'; bytes: Buffer; port: undefined };

function endpointBytes(name: string, endpoint: ProxyAddressInit): EndpointBytes {
  if (typeof endpoint !== 'object' || endpoint === null) throw new InvalidOptionError(name, 'must be an object with address and port, or path', endpoint);
  if ('path' in endpoint) {
    if (endpoint.family !== undefined && endpoint.family !== 'unix') throw new InvalidOptionError(`${name}.family`, "must be 'unix' for a path", endpoint.family);
    return { family: 'unix', bytes: encodeUnixPath(`${name}.path`, endpoint.path), port: undefined };
  }
  const { address } = endpoint;
  const { port } = endpoint;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidOptionError(`${name}.port`, 'must be an integer from 0 to 65535', port);
  }
  if (typeof address !== 'string') throw new InvalidOptionError(`${name}.address`, 'must be an IPv4 or IPv6 address', address);
  const octets = parseStrictIPv4(address);
  const bytes = octets === undefined ? parseStrictIPv6(address) : Buffer.from(octets);
  if (bytes === undefined) throw new InvalidOptionError(`${name}.address`, 'must be an IPv4 address without leading zeros or an IPv6 address without a zone', address);
  const family = octets === undefined ? 'IPv6' : 'IPv4';
  if (endpoint.family !== undefined && endpoint.family !== family) throw new InvalidOptionError(`${name}.family`, `must match the address (${family})`, endpoint.family);
  return { family, bytes, port };
}

/**
 * The 108 bytes of `sun_path` for `path`: UTF-8, zero-padded. `''` is an unnamed socket and a
 * leading `'\0'` the abstract namespace, whose name cannot end in `'\0'` (that is the padding).
 */
function encodeUnixPath(name: string, path: unknown): Buffer {
  const text = utf8Bytes(name, path);
  const abstract = text[0] === 0;
  if (abstract ? text.length === 1 || text[text.length - 1] === 0 : text.includes(0)) {
    throw new InvalidOptionError(name, abstract ? "must name an abstract socket that does not end in '\\0'" : "must not contain '\\0' except as the first character", path);
  }
  if (text.length > UNIX_PATH_LENGTH) throw new InvalidOptionError(name, `must be at most ${UNIX_PATH_LENGTH} bytes in UTF-8`, path);
  const bytes = Buffer.alloc(UNIX_PATH_LENGTH);
  text.copy(bytes);
  return bytes;
}

/**
 * The path text of the 108 `sun_path` bytes at `offset`, as {@link encodeUnixPath} writes it: a
 * path ends at its first NUL; an abstract name (leading NUL) at its last non-NUL byte.
 * @throws {ProxyProtocolError} when the path is not UTF-8
 */
export function decodeUnixPath(bytes: Buffer, offset: number, what: string): string {
  const limit = offset + UNIX_PATH_LENGTH;
  if (bytes[offset] !== 0) {
    const nul = bytes.subarray(offset, limit).indexOf(0);
    return readUtf8(bytes, offset, nul === -1 ? limit : offset + nul, what);
  }
  let end = limit;
  while (end > offset + 1 && bytes[end - 1] === 0) end--;
  return end === offset + 1 ? '' : `\0${readUtf8(bytes, offset + 1, end, what)}`;
}
