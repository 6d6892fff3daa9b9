/**
 * Address text for PROXY headers: the strict IPv4 and IPv6 forms a v1 line must use, and the
 * text Node gives `remoteAddress` for the 4 or 16 bytes of a v2 header (inet_ntop, RFC 5952).
 */
import { parseIPv6 } from '../net/ip-address.ts';

const DECIMAL_OCTET = /^(?:0|[1-9]\d{0,2})$/;

/** The four octets of a dotted quad with no leading zeros (`10.0.0.1`, not `010.0.0.1`), or undefined. */
export function parseStrictIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    octets.push(value);
  }
  return octets;
}

/**
 * The 16 bytes of an IPv6 address in text (hex groups of 1 to 4 digits, one `::`, an optional
 * dotted IPv4 tail without leading zeros; no zone), or undefined.
 */
export function parseStrictIPv6(text: string): Buffer | undefined {
  const groups = parseIPv6(text);
  if (groups === undefined) return undefined;
  if (text.includes('.') && parseStrictIPv4(text.slice(text.lastIndexOf(':') + 1)) === undefined) return undefined;
  const bytes = Buffer.allocUnsafe(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(group, index * 2));
  return bytes;
}

/** `a.b.c.d` for the four bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/**
 * The text of the 16 bytes at `offset`, exactly as Node reports an IPv6 peer (libuv's inet_ntop):
 * lower case, the longest run of two or more zero groups as `::` (the first of equal runs), and a
 * dotted IPv4 tail for IPv4-mapped and IPv4-compatible addresses.
 */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  const words: number[] = [];
  for (let index = 0; index < 8; index++) words.push((bytes[offset + index * 2]! << 8) | bytes[offset + index * 2 + 1]!);
  let bestBase = -1;
  let bestLength = 0;
  for (let index = 0; index < 8; ) {
    if (words[index] !== 0) {
      index++;
      continue;
    }
    const base = index;
    while (index < 8 && words[index] === 0) index++;
    if (index - base > bestLength) [bestBase, bestLength] = [base, index - base];
  }
  if (bestLength < 2) bestBase = -1;
  let text = '';
  for (let index = 0; index < 8; index++) {
    if (bestBase !== -1 && index >= bestBase && index < bestBase + bestLength) {
      if (index === bestBase) text += ':';
      continue;
    }
    if (index !== 0) text += ':';
    if (index === 6 && bestBase === 0 && (bestLength === 6 || (bestLength === 7 && words[7] !== 1) || (bestLength === 5 && words[5] === 0xffff))) {
      return text + formatIPv4(bytes, offset + 12);
    }
    text += words[index]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLength === 8) text += ':';
  return text;
}
