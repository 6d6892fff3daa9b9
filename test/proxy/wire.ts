/**
 * Hand-built PROXY wire bytes for the vector tests, written from the spec independently of the
 * encoder under test, and the expected header objects they parse to.
 */
import { crc32c } from '../../src/proxy/crc32c.ts';
import type { ProxyHeader, ProxyInetAddress, ProxySslInfo, ProxyTlvs } from '../../src/index.ts';

/** The v2 signature. */
export const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: signature, version/command byte, family byte, length (the body's unless given), body. */
export function v2(versionCommand: number, family: number, body: Buffer, length = body.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = versionCommand;
  fixed[1] = family;
  fixed.writeUInt16BE(length, 2);
  return Buffer.concat([SIGNATURE, fixed, body]);
}

/** One TLV. */
export function tlv(type: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/** A CRC32C TLV whose value is still zero, for {@link sealCrc32c}. */
export const CRC32C_PLACEHOLDER = tlv(0x03, Buffer.alloc(4));

/** Writes the spec's CRC32C into the CRC32C TLV value at `valueAt` of `header` (in place). */
export function sealCrc32c(header: Buffer, valueAt: number): Buffer {
  header.writeUInt32BE(0, valueAt);
  header.writeUInt32BE(crc32c(header), valueAt);
  return header;
}

/** The SSL TLV's value: client bits, verify, sub-TLVs. */
export function sslValue(client: number, verify: number, ...subs: Buffer[]): Buffer {
  const fixed = Buffer.alloc(5);
  fixed[0] = client;
  fixed.writeUInt32BE(verify, 1);
  return Buffer.concat([fixed, ...subs]);
}

/** An IPv4 address block: two addresses, two ports. */
export function ipv4Block(source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  const block = Buffer.alloc(12);
  Buffer.from(source.split('.').map(Number)).copy(block, 0);
  Buffer.from(destination.split('.').map(Number)).copy(block, 4);
  block.writeUInt16BE(sourcePort, 8);
  block.writeUInt16BE(destinationPort, 10);
  return block;
}

/** An IPv6 address block from 32-hex-digit addresses. */
export function ipv6Block(sourceHex: string, destinationHex: string, sourcePort: number, destinationPort: number): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sourcePort, 0);
  ports.writeUInt16BE(destinationPort, 2);
  return Buffer.concat([Buffer.from(sourceHex, 'hex'), Buffer.from(destinationHex, 'hex'), ports]);
}

/** A UNIX address block: two 108-byte `sun_path` fields. */
export function unixBlock(source: Buffer | string, destination: Buffer | string): Buffer {
  const block = Buffer.alloc(216);
  Buffer.from(source).copy(block, 0);
  Buffer.from(destination).copy(block, 108);
  return block;
}

/** No TLVs. */
export const NONE: ProxyTlvs = { alpn: undefined, authority: undefined, crc32c: false, uniqueId: undefined, ssl: undefined, netns: undefined, unknown: [] };

/** Expected TLVs: `NONE` with these fields. */
export function tlvs(fields: Partial<ProxyTlvs>): ProxyTlvs {
  return { ...NONE, ...fields };
}

/** Expected SSL info; the derived flags follow from `client` and `verify`. */
export function ssl(client: number, verify: number, strings: Partial<Pick<ProxySslInfo, 'version' | 'cn' | 'cipher' | 'sigAlg' | 'keyAlg' | 'unknown'>> = {}): ProxySslInfo {
  const certificate = (client & 0x06) !== 0;
  return {
    client,
    verify,
    tls: (client & 1) !== 0,
    certificateOnConnection: (client & 2) !== 0,
    certificateInSession: (client & 4) !== 0,
    verified: certificate && verify === 0,
    version: undefined,
    cn: undefined,
    cipher: undefined,
    sigAlg: undefined,
    keyAlg: undefined,
    unknown: [],
    ...strings,
  };
}

/** An endpoint. */
export function inet(address: string, port: number): ProxyInetAddress {
  return { family: address.includes(':') ? 'IPv6' : 'IPv4', address, port };
}

/** An expected PROXY-command header over TCP between two inet endpoints. */
export function relayed(version: 1 | 2, source: ProxyInetAddress, destination: ProxyInetAddress, fields: Partial<ProxyHeader> = {}): ProxyHeader {
  return { version, command: 'proxy', family: source.family, transport: 'stream', source, destination, tlvs: NONE, ...fields };
}

/** An expected header that names no addresses (LOCAL, UNSPEC, UNKNOWN). */
export function unattributed(version: 1 | 2, command: 'proxy' | 'local', fields: Partial<ProxyHeader> = {}): ProxyHeader {
  return { version, command, family: 'unspec', transport: 'unspec', source: undefined, destination: undefined, tlvs: NONE, ...fields };
}
