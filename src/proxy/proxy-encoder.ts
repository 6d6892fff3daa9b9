/**
 * The sending side: a {@link ProxyHeaderInit} (or a parsed {@link ProxyHeader}) to the bytes of a
 * v1 line or a v2 header, for a connection to a backend that expects the PROXY protocol.
 */
import { InvalidOptionError } from '../core/errors.ts';
import { optionsObject } from '../core/options.ts';
import { normalizeEndpoints } from './endpoints.ts';
import type { ProxyHeaderInit, ProxyTlvsInit } from './proxy-header.ts';
import { encodeTlvs } from './tlvs.ts';
import { encodeV1Line } from './v1-line.ts';
import { encodeV2Header } from './v2-binary.ts';

/**
 * Encodes a PROXY header: `PROXY TCP4 ...\r\n` (v1) or the binary v2 header with its TLVs and,
 * when `tlvs.crc32c` is true, a CRC32C over the whole header.
 * @throws {InvalidOptionError} naming the field that cannot be encoded (an address of the wrong
 * family, a port out of range, TLVs on v1, a header longer than 65551 bytes, ...)
 * @example
 * encodeProxyHeader({ version: 1, source: { address: '203.0.113.7', port: 51000 }, destination: { address: '192.0.2.1', port: 443 } });
 * // <Buffer 'PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n'>
 * encodeProxyHeader({ version: 2, command: 'local' }); // a health check's header: the real endpoints apply
 */
export function encodeProxyHeader(header: ProxyHeaderInit): Buffer {
  const init = optionsObject('header', header);
  const { version } = init;
  if (version !== 1 && version !== 2) throw new InvalidOptionError('version', 'must be 1 or 2', version);
  const command = init.command ?? 'proxy';
  if (command !== 'proxy' && command !== 'local') throw new InvalidOptionError('command', "must be 'proxy' or 'local'", command);
  const endpoints = normalizeEndpoints(init.source, init.destination);
  if (command === 'local' && endpoints !== undefined) {
    throw new InvalidOptionError('source', 'must be left out for the LOCAL command, whose receiver uses the real endpoints', init.source);
  }
  const family = endpoints?.family ?? 'unspec';
  if (init.family !== undefined && init.family !== family) throw new InvalidOptionError('family', `must match the endpoints (${family})`, init.family);
  const transport = init.transport ?? (endpoints === undefined ? 'unspec' : 'stream');
  if (endpoints === undefined ? transport !== 'unspec' : transport !== 'stream' && transport !== 'dgram') {
    throw new InvalidOptionError('transport', endpoints === undefined ? "must be 'unspec' without endpoints" : "must be 'stream' or 'dgram'", transport);
  }
  const tlvs = optionsObject('tlvs', init.tlvs);
  if (version === 1) {
    if (command === 'local') throw new InvalidOptionError('command', "must be 'proxy' for version 1, which has no LOCAL (leave out the endpoints to send UNKNOWN)", command);
    if (endpoints?.family === 'unix' || transport === 'dgram') throw new InvalidOptionError('version', 'must be 2 for a UNIX or datagram connection; v1 carries TCP only', version);
    if (carriesTlvs(tlvs)) throw new InvalidOptionError('tlvs', 'must be empty for version 1, which has no TLVs', tlvs);
    return encodeV1Line(endpoints);
  }
  return encodeV2Header(command, transport, endpoints, encodeTlvs(tlvs));
}

function carriesTlvs(tlvs: Partial<ProxyTlvsInit>): boolean {
  const { alpn, authority, crc32c, uniqueId, ssl, netns, noop, unknown } = tlvs;
  return [alpn, authority, uniqueId, ssl, netns, noop].some((value) => value !== undefined) || crc32c === true || (unknown?.length ?? 0) > 0;
}
