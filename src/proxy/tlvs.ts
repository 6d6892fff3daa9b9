/**
 * PROXY v2 TLVs (spec section 2.2): type, 16-bit length, value. The TLV area must hold whole
 * TLVs and nothing else; each assigned type may appear once (NOOP any number of times); a
 * CRC32C, when present, must match the header; other types are kept raw.
 */
import { ErrorCode, InvalidOptionError } from '../core/errors.ts';
import { CRC32C_INITIAL, crc32cFinal, crc32cUpdate } from './crc32c.ts';
import type { ProxyRawTlv, ProxyRawTlvInit, ProxySslInfo, ProxySslInit, ProxyTlvs, ProxyTlvsInit } from './proxy-header.ts';
import { MAX_UNIQUE_ID_LENGTH, NO_TLVS, SslClient, TlvType } from './proxy-header.ts';
import { ProxyProtocolError } from './proxy-error.ts';
import { asciiBytes, latin1Bytes, readAscii, readUtf8, utf8Bytes } from './wire-text.ts';

const TLV_HEADER_LENGTH = 3;
const SSL_FIXED_LENGTH = 5;
const CRC32C_LENGTH = 4;
const ZEROS = new Uint8Array(CRC32C_LENGTH);
/** The top-level types this module interprets (NOOP aside), by name. */
const TOP_LEVEL_NAMES: Partial<Record<number, string>> = {
  [TlvType.ALPN]: 'ALPN',
  [TlvType.AUTHORITY]: 'AUTHORITY',
  [TlvType.CRC32C]: 'CRC32C',
  [TlvType.UNIQUE_ID]: 'UNIQUE_ID',
  [TlvType.SSL]: 'SSL',
  [TlvType.NETNS]: 'NETNS',
};
const SSL_SUB_NAMES: Partial<Record<number, string>> = {
  [TlvType.SSL_VERSION]: 'SSL_VERSION',
  [TlvType.SSL_CN]: 'SSL_CN',
  [TlvType.SSL_CIPHER]: 'SSL_CIPHER',
  [TlvType.SSL_SIG_ALG]: 'SSL_SIG_ALG',
  [TlvType.SSL_KEY_ALG]: 'SSL_KEY_ALG',
};

/** The same empty list for every header with no unknown TLV (frozen: a header is shared by the session and its observers). */
const NO_RAW_TLVS: readonly ProxyRawTlv[] = Object.freeze([]);

/** A TLV's type and where its value starts, read at `offset` inside `bytes[..., end)`, throwing when it does not fit. Returns where the value ends. */
function tlvValueEnd(bytes: Buffer, offset: number, end: number, where: string): number {
  if (end - offset < TLV_HEADER_LENGTH) throw bad(`${end - offset} stray bytes after the last ${where}`);
  const valueStart = offset + TLV_HEADER_LENGTH;
  const valueEnd = valueStart + ((bytes[offset + 1]! << 8) | bytes[offset + 2]!);
  if (valueEnd > end) throw bad(`${where} 0x${hex(bytes[offset]!)} of ${valueEnd - valueStart} bytes runs ${valueEnd - end} bytes past the end`);
  return valueEnd;
}

/** Each SSL sub-type's place in SSL_SUB_NAMES: where parseSsl keeps its string. */
const SSL_SUB_INDEX: Partial<Record<number, number>> = Object.fromEntries(Object.keys(SSL_SUB_NAMES).map((type, index) => [type, index]));

/** A bit per top-level type this module interprets: which of them a header has had already. */
const TOP_LEVEL_BITS: Partial<Record<number, number>> = Object.fromEntries(Object.keys(TOP_LEVEL_NAMES).map((type, index) => [type, 1 << index]));

/**
 * The TLVs of the complete header `bytes[0, end)` whose TLV area starts at `start`. One pass over
 * the bytes, with no callback, set or list made unless a header needs it (the per-connection cost
 * of a v2 header behind HAProxy).
 * @throws {ProxyProtocolError} `SWB_ERR_PROXY_BAD_HEADER` or `SWB_ERR_PROXY_CHECKSUM_MISMATCH`
 */
export function parseTlvs(bytes: Buffer, start: number, end: number): ProxyTlvs {
  if (start === end) return NO_TLVS;
  let alpn: string | undefined;
  let authority: string | undefined;
  let uniqueId: Buffer | undefined;
  let ssl: ProxySslInfo | undefined;
  let netns: string | undefined;
  let crcAt = -1;
  let unknown: ProxyRawTlv[] | undefined;
  let seen = 0;
  for (let offset = start; offset < end; ) {
    const valueEnd = tlvValueEnd(bytes, offset, end, 'TLV');
    const type = bytes[offset]!;
    const valueStart = offset + TLV_HEADER_LENGTH;
    offset = valueEnd;
    if (type === TlvType.NOOP) continue;
    const bit = TOP_LEVEL_BITS[type];
    if (bit === undefined) {
      (unknown ??= []).push({ type, value: copyOut(bytes, valueStart, valueEnd) });
      continue;
    }
    if ((seen & bit) !== 0) throw bad(`a second ${TOP_LEVEL_NAMES[type]} TLV`);
    seen |= bit;
    const length = valueEnd - valueStart;
    switch (type) {
      case TlvType.ALPN:
        alpn = bytes.toString('latin1', valueStart, valueEnd);
        break;
      case TlvType.AUTHORITY:
        authority = readUtf8(bytes, valueStart, valueEnd, 'the AUTHORITY TLV');
        break;
      case TlvType.CRC32C:
        if (length !== CRC32C_LENGTH) throw bad(`the CRC32C TLV holds ${length} bytes, not 4`);
        crcAt = valueStart;
        break;
      case TlvType.UNIQUE_ID:
        if (length > MAX_UNIQUE_ID_LENGTH) throw bad(`the UNIQUE_ID TLV holds ${length} bytes, more than ${MAX_UNIQUE_ID_LENGTH}`);
        uniqueId = copyOut(bytes, valueStart, valueEnd);
        break;
      case TlvType.SSL:
        ssl = parseSsl(bytes, valueStart, valueEnd);
        break;
      default: // NETNS
        netns = readAscii(bytes, valueStart, valueEnd, 'the NETNS TLV');
    }
  }
  if (crcAt !== -1) verifyCrc32c(bytes, crcAt, end);
  return { alpn, authority, crc32c: crcAt !== -1, uniqueId, ssl, netns, unknown: unknown ?? NO_RAW_TLVS };
}

function parseSsl(bytes: Buffer, start: number, end: number): ProxySslInfo {
  if (end - start < SSL_FIXED_LENGTH) throw bad(`the SSL TLV holds ${end - start} bytes, fewer than its 5-byte client and verify fields`);
  const client = bytes[start]!;
  const verify = readUInt32(bytes, start + 1);
  // The five strings by their place in SSL_SUB_NAMES (version, CN, cipher, sig alg, key alg);
  // none made for an SSL TLV with no sub-TLV (HAProxy's plain frontend: client 0).
  let strings: (string | undefined)[] | undefined;
  let unknown: ProxyRawTlv[] | undefined;
  for (let offset = start + SSL_FIXED_LENGTH; offset < end; ) {
    const valueEnd = tlvValueEnd(bytes, offset, end, 'SSL sub-TLV');
    const type = bytes[offset]!;
    const valueStart = offset + TLV_HEADER_LENGTH;
    offset = valueEnd;
    const index = SSL_SUB_INDEX[type];
    if (index === undefined) {
      (unknown ??= []).push({ type, value: copyOut(bytes, valueStart, valueEnd) });
      continue;
    }
    const name = SSL_SUB_NAMES[type]!;
    if (strings?.[index] !== undefined) throw bad(`a second ${name} sub-TLV`);
    (strings ??= [undefined, undefined, undefined, undefined, undefined])[index] = (type === TlvType.SSL_CN ? readUtf8 : readAscii)(bytes, valueStart, valueEnd, `the ${name} sub-TLV`);
  }
  const certificate = (client & (SslClient.CERT_CONN | SslClient.CERT_SESS)) !== 0;
  return {
    client,
    verify,
    tls: (client & SslClient.SSL) !== 0,
    certificateOnConnection: (client & SslClient.CERT_CONN) !== 0,
    certificateInSession: (client & SslClient.CERT_SESS) !== 0,
    verified: certificate && verify === 0,
    version: strings?.[0],
    cn: strings?.[1],
    cipher: strings?.[2],
    sigAlg: strings?.[3],
    keyAlg: strings?.[4],
    unknown: unknown ?? NO_RAW_TLVS,
  };
}

/**
 * A copy of `bytes[start, end)` that keeps nothing of the connection's chunk alive: small values
 * come from Node's buffer pool (as `Buffer.from` would), with no view made of the chunk first.
 */
function copyOut(bytes: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafe(end - start);
  bytes.copy(copy, 0, start, end);
  return copy;
}

/** The big-endian 32-bit value at `at`, read in place (no bounds-checked call: the caller checked the length). */
function readUInt32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** The spec's check: the CRC32C of the header with the checksum's 4 bytes read as zeros. */
function verifyCrc32c(bytes: Buffer, valueAt: number, end: number): void {
  const sent = readUInt32(bytes, valueAt);
  let crc = crc32cUpdate(CRC32C_INITIAL, bytes, 0, valueAt);
  crc = crc32cUpdate(crc, ZEROS);
  const computed = crc32cFinal(crc32cUpdate(crc, bytes, valueAt + CRC32C_LENGTH, end));
  if (computed !== sent) {
    throw new ProxyProtocolError(ErrorCode.PROXY_CHECKSUM_MISMATCH, 2, `CRC32C 0x${hex8(sent)} does not match the header's 0x${hex8(computed)}`);
  }
}

/** TLV bytes to append after the address block, and where a CRC32C value goes in them (or -1). */
export interface EncodedTlvs {
  bytes: Buffer;
  crc32cAt: number;
}

/**
 * Encodes `tlvs` in a fixed order (CRC32C first, as HAProxy sends it; the checksum left zero for
 * {@link fillCrc32c}).
 * @throws {InvalidOptionError} naming the TLV that cannot be encoded
 */
export function encodeTlvs(tlvs: ProxyTlvsInit): EncodedTlvs {
  const parts: Buffer[] = [];
  const crc32c = tlvs.crc32c ?? false;
  if (typeof crc32c !== 'boolean') throw new InvalidOptionError('tlvs.crc32c', 'must be a boolean', crc32c);
  if (crc32c) parts.push(tlv(TlvType.CRC32C, ZEROS));
  if (tlvs.alpn !== undefined) parts.push(tlv(TlvType.ALPN, latin1Bytes('tlvs.alpn', tlvs.alpn)));
  if (tlvs.authority !== undefined) parts.push(tlv(TlvType.AUTHORITY, utf8Bytes('tlvs.authority', tlvs.authority)));
  if (tlvs.uniqueId !== undefined) {
    if (!(tlvs.uniqueId instanceof Uint8Array) || tlvs.uniqueId.length > MAX_UNIQUE_ID_LENGTH) {
      throw new InvalidOptionError('tlvs.uniqueId', `must be a Uint8Array of at most ${MAX_UNIQUE_ID_LENGTH} bytes`, tlvs.uniqueId);
    }
    parts.push(tlv(TlvType.UNIQUE_ID, tlvs.uniqueId));
  }
  if (tlvs.ssl !== undefined) parts.push(tlv(TlvType.SSL, encodeSsl(tlvs.ssl)));
  if (tlvs.netns !== undefined) parts.push(tlv(TlvType.NETNS, asciiBytes('tlvs.netns', tlvs.netns)));
  if (tlvs.noop !== undefined) {
    if (!Number.isInteger(tlvs.noop) || tlvs.noop < 0 || tlvs.noop > 0xffff) throw new InvalidOptionError('tlvs.noop', 'must be an integer from 0 to 65535', tlvs.noop);
    parts.push(tlv(TlvType.NOOP, new Uint8Array(tlvs.noop)));
  }
  parts.push(...rawTlvs('tlvs.unknown', tlvs.unknown, (type) => TOP_LEVEL_NAMES[type] === undefined && type !== TlvType.NOOP));
  return { bytes: Buffer.concat(parts), crc32cAt: crc32c ? TLV_HEADER_LENGTH : -1 };
}

function encodeSsl(ssl: ProxySslInit): Buffer {
  if (typeof ssl !== 'object' || ssl === null) throw new InvalidOptionError('tlvs.ssl', 'must be an object', ssl);
  const client = ssl.client ?? SslClient.SSL;
  const verify = ssl.verify ?? 0;
  if (!Number.isInteger(client) || client < 0 || client > 0xff) throw new InvalidOptionError('tlvs.ssl.client', 'must be an integer from 0 to 255', client);
  if (!Number.isInteger(verify) || verify < 0 || verify > 0xffffffff) throw new InvalidOptionError('tlvs.ssl.verify', 'must be an unsigned 32-bit integer', verify);
  const fixed = Buffer.alloc(SSL_FIXED_LENGTH);
  fixed[0] = client;
  fixed.writeUInt32BE(verify, 1);
  const parts: Buffer[] = [fixed];
  const subs = [
    [TlvType.SSL_VERSION, 'version', ssl.version],
    [TlvType.SSL_CN, 'cn', ssl.cn],
    [TlvType.SSL_CIPHER, 'cipher', ssl.cipher],
    [TlvType.SSL_SIG_ALG, 'sigAlg', ssl.sigAlg],
    [TlvType.SSL_KEY_ALG, 'keyAlg', ssl.keyAlg],
  ] as const;
  for (const [type, name, value] of subs) {
    if (value === undefined) continue;
    parts.push(tlv(type, (type === TlvType.SSL_CN ? utf8Bytes : asciiBytes)(`tlvs.ssl.${name}`, value)));
  }
  parts.push(...rawTlvs('tlvs.ssl.unknown', ssl.unknown, (type) => SSL_SUB_NAMES[type] === undefined));
  return Buffer.concat(parts);
}

function rawTlvs(name: string, list: readonly ProxyRawTlvInit[] | undefined, allowed: (type: number) => boolean): Buffer[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new InvalidOptionError(name, 'must be an array of { type, value }', list);
  return list.map((entry: ProxyRawTlvInit, index) => {
    const type: unknown = entry?.type;
    if (typeof type !== 'number' || !Number.isInteger(type) || type < 0 || type > 0xff || !allowed(type)) {
      throw new InvalidOptionError(`${name}[${index}].type`, 'must be an integer from 0 to 255 that names no TLV this encoder writes itself', type);
    }
    if (!(entry.value instanceof Uint8Array)) throw new InvalidOptionError(`${name}[${index}].value`, 'must be a Uint8Array', entry.value);
    return tlv(type, entry.value);
  });
}

function tlv(type: number, value: Uint8Array): Buffer {
  if (value.length > 0xffff) throw new InvalidOptionError(`TLV 0x${hex(type)}`, 'must hold at most 65535 bytes', value.length);
  const bytes = Buffer.allocUnsafe(TLV_HEADER_LENGTH + value.length);
  bytes[0] = type;
  bytes.writeUInt16BE(value.length, 1);
  bytes.set(value, TLV_HEADER_LENGTH);
  return bytes;
}

/** Writes the CRC32C of the finished `header` into its CRC32C TLV's value at `valueAt`. */
export function fillCrc32c(header: Buffer, valueAt: number): void {
  header.writeUInt32BE(0, valueAt);
  header.writeUInt32BE(crc32cFinal(crc32cUpdate(CRC32C_INITIAL, header)), valueAt);
}

function bad(message: string): ProxyProtocolError {
  return new ProxyProtocolError(ErrorCode.PROXY_BAD_HEADER, 2, message);
}

function hex(type: number): string {
  return type.toString(16).padStart(2, '0');
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}
