/**
 * PROXY v2, the binary header: the 12-byte signature, version and command, family and
 * transport, a 16-bit length, the address block, then TLVs. The header is exactly 16 + length
 * bytes, whatever the family; nothing past it is read.
 */
import { ErrorCode, InvalidOptionError } from '../core/errors.ts';
import type { Endpoints } from './endpoints.ts';
import { decodeUnixPath } from './endpoints.ts';
import { formatIPv6 } from '../net/ip-address.ts';
import { ipv4Text } from './ipv4-text.ts';
import type { ProxyAddress, ProxyCommand, ProxyFamily, ProxyHeader, ProxyTransport } from './proxy-header.ts';
import { UNIX_PATH_LENGTH, V2_FIXED_LENGTH, V2_MAX_LENGTH, V2_SIGNATURE } from './proxy-header.ts';
import { ProxyProtocolError } from './proxy-error.ts';
import type { EncodedTlvs } from './tlvs.ts';
import { fillCrc32c, parseTlvs } from './tlvs.ts';

const VERSION_COMMAND_AT = 12;
const FAMILY_AT = 13;
const LENGTH_AT = 14;
const VERSION_2 = 0x20;

/** The valid family and transport bytes, with their address block length. */
const FAMILIES: Partial<Record<number, { family: ProxyFamily; transport: ProxyTransport; addressLength: number }>> = {
  0x00: { family: 'unspec', transport: 'unspec', addressLength: 0 },
  0x11: { family: 'IPv4', transport: 'stream', addressLength: 12 },
  0x12: { family: 'IPv4', transport: 'dgram', addressLength: 12 },
  0x21: { family: 'IPv6', transport: 'stream', addressLength: 36 },
  0x22: { family: 'IPv6', transport: 'dgram', addressLength: 36 },
  0x31: { family: 'unix', transport: 'stream', addressLength: 2 * UNIX_PATH_LENGTH },
  0x32: { family: 'unix', transport: 'dgram', addressLength: 2 * UNIX_PATH_LENGTH },
};

/**
 * Checks the fixed part among the first `length` bytes (which start with the signature) as far as
 * they go, and returns the header's total length once its length field has arrived.
 * @throws {ProxyProtocolError} at the first byte that breaks the spec or the size limit
 */
export function inspectV2(bytes: Uint8Array, length: number, maxHeaderBytes: number): number | undefined {
  if (length <= VERSION_COMMAND_AT) return undefined;
  const versionCommand = bytes[VERSION_COMMAND_AT]!;
  if ((versionCommand & 0xf0) !== VERSION_2) throw bad(`version ${versionCommand >> 4} in byte 13; only 2 is defined`);
  if ((versionCommand & 0x0f) > 1) throw bad(`command ${versionCommand & 0x0f} in byte 13; only LOCAL (0) and PROXY (1) are defined`);
  if (length <= FAMILY_AT) return undefined;
  const family = FAMILIES[bytes[FAMILY_AT]!];
  if (family === undefined) throw bad(`family and transport 0x${bytes[FAMILY_AT]!.toString(16).padStart(2, '0')} in byte 14 are not defined`);
  if (length < V2_FIXED_LENGTH) return undefined;
  const addressBytes = (bytes[LENGTH_AT]! << 8) | bytes[LENGTH_AT + 1]!;
  const total = V2_FIXED_LENGTH + addressBytes;
  if (total > maxHeaderBytes) throw new ProxyProtocolError(ErrorCode.PROXY_HEADER_TOO_LARGE, 2, `${total} bytes announced, more than the maximum of ${maxHeaderBytes}`);
  if ((versionCommand & 0x0f) === 1 && addressBytes < family.addressLength) {
    throw bad(`length ${addressBytes} is shorter than the ${family.addressLength}-byte address block of its family`);
  }
  return total;
}

/**
 * The header in `bytes[0, total)`, already passed by {@link inspectV2}. For LOCAL the family and
 * addresses are ignored, as the spec says; TLVs after an address block of the family's length are
 * still read, so a CRC32C is checked.
 * @throws {ProxyProtocolError} for a malformed TLV or a CRC32C mismatch
 */
export function parseV2(bytes: Buffer, total: number): ProxyHeader {
  const family = FAMILIES[bytes[FAMILY_AT]!]!;
  const command: ProxyCommand = (bytes[VERSION_COMMAND_AT]! & 0x0f) === 1 ? 'proxy' : 'local';
  const tlvStart = V2_FIXED_LENGTH + family.addressLength;
  if (command === 'local') {
    const tlvs = parseTlvs(bytes, Math.min(tlvStart, total), total);
    return { version: 2, command, family: 'unspec', transport: 'unspec', source: undefined, destination: undefined, tlvs };
  }
  return { version: 2, command, family: family.family, transport: family.transport, source: readAddress(bytes, family.family, 0), destination: readAddress(bytes, family.family, 1), tlvs: parseTlvs(bytes, tlvStart, total) };
}

/** The source (`which` 0) or destination (1) of the address block, read in place. */
function readAddress(bytes: Buffer, family: ProxyFamily, which: 0 | 1): ProxyAddress | undefined {
  const at = V2_FIXED_LENGTH;
  switch (family) {
    case 'IPv4': {
      const octet = at + 4 * which;
      return { family, address: ipv4Text(bytes[octet]!, bytes[octet + 1]!, bytes[octet + 2]!, bytes[octet + 3]!), port: readUInt16(bytes, at + 8 + 2 * which) };
    }
    case 'IPv6':
      return { family, address: formatIPv6(bytes, at + 16 * which), port: readUInt16(bytes, at + 32 + 2 * which) };
    case 'unix':
      return { family, path: decodeUnixPath(bytes, at + UNIX_PATH_LENGTH * which, which === 0 ? 'the source path' : 'the destination path') };
    default:
      return undefined;
  }
}

/** The big-endian 16-bit value at `at` (inside the checked header: no bounds-checked call). */
function readUInt16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/**
 * A v2 header from checked parts; `tlvs.crc32cAt` (relative to the TLV bytes) gets the checksum.
 * @throws {InvalidOptionError} when the TLVs make the header longer than 65551 bytes
 */
export function encodeV2Header(command: ProxyCommand, transport: ProxyTransport, endpoints: Endpoints | undefined, tlvs: EncodedTlvs): Buffer {
  const addressLength = endpoints === undefined ? 0 : endpoints.family === 'unix' ? 2 * UNIX_PATH_LENGTH : endpoints.family === 'IPv4' ? 12 : 36;
  const length = V2_FIXED_LENGTH + addressLength + tlvs.bytes.length;
  if (length > V2_MAX_LENGTH) throw new InvalidOptionError('tlvs', `must fit the header in ${V2_MAX_LENGTH} bytes`, `${length} bytes`);
  const header = Buffer.alloc(length);
  V2_SIGNATURE.copy(header);
  header[VERSION_COMMAND_AT] = VERSION_2 | (command === 'proxy' ? 1 : 0);
  const familyNibble = endpoints === undefined ? 0 : endpoints.family === 'IPv4' ? 1 : endpoints.family === 'IPv6' ? 2 : 3;
  const transportNibble = transport === 'stream' ? 1 : transport === 'dgram' ? 2 : 0;
  header[FAMILY_AT] = (familyNibble << 4) | transportNibble;
  header.writeUInt16BE(header.length - V2_FIXED_LENGTH, LENGTH_AT);
  if (endpoints !== undefined) {
    const at = V2_FIXED_LENGTH;
    const size = endpoints.source.bytes.length;
    endpoints.source.bytes.copy(header, at);
    endpoints.destination.bytes.copy(header, at + size);
    if (endpoints.family !== 'unix') {
      header.writeUInt16BE(endpoints.source.port, at + 2 * size);
      header.writeUInt16BE(endpoints.destination.port, at + 2 * size + 2);
    }
  }
  const tlvAt = V2_FIXED_LENGTH + addressLength;
  tlvs.bytes.copy(header, tlvAt);
  if (tlvs.crc32cAt !== -1) fillCrc32c(header, tlvAt + tlvs.crc32cAt);
  return header;
}

function bad(message: string): ProxyProtocolError {
  return new ProxyProtocolError(ErrorCode.PROXY_BAD_HEADER, 2, message);
}
