/**
 * IP address text, once for every layer: parsing IPv6 (and the strict forms a PROXY v1 line
 * uses), the text Node writes for an address (libuv's inet_ntop, RFC 5952), IPv4-mapped
 * addresses, and the key a peer is counted under -- the address, or an IPv6 prefix such as /64.
 * Parsing reads character codes into one scratch buffer: no regular expression, no array per
 * call, since it runs per connection and per datagram.
 */

/** The eight 16-bit groups of the address last read by {@link readIPv6}. */
const words = new Uint16Array(8);

const COLON = 0x3a;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** The value of a hex digit's character code, or -1. */
function hexValue(code: number): number {
  if (code >= ZERO && code <= NINE) return code - ZERO;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * Reads the dotted quad `text[start, end)` into `words[at]` and `words[at + 1]`.
 * @param strict refuse octets with leading zeros (`01`)
 */
function readDottedTail(text: string, start: number, end: number, at: number, strict: boolean): boolean {
  let octets = 0;
  let value = 0;
  let digits = 0;
  let high = 0;
  for (let index = start; index <= end; index++) {
    const code = index === end ? DOT : text.charCodeAt(index);
    if (code === DOT) {
      if (digits === 0 || octets === 4) return false;
      if (octets % 2 === 0) high = value;
      else words[at + (octets >> 1)] = (high << 8) | value;
      octets++;
      value = 0;
      digits = 0;
    } else if (code >= ZERO && code <= NINE) {
      if (strict && digits === 1 && value === 0) return false;
      value = value * 10 + code - ZERO;
      if (++digits > 3 || value > 255) return false;
    } else {
      return false;
    }
  }
  return octets === 4;
}

/**
 * Reads IPv6 text into {@link words}: hex groups of one to four digits, at most one `::`, and
 * optionally a dotted IPv4 tail as the last 32 bits. No brackets, no zone.
 * @param strict refuse leading zeros in a dotted tail
 */
function readIPv6(text: string, strict: boolean): boolean {
  const end = text.length;
  if (end < 2 || end > 45) return false;
  let count = 0;
  let gap = -1;
  let index = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gap = 0;
    index = 2;
  }
  while (index < end) {
    const start = index;
    let value = 0;
    let code = 0;
    while (index < end) {
      code = text.charCodeAt(index);
      const digit = hexValue(code);
      if (digit === -1) break;
      value = (value << 4) | digit;
      index++;
    }
    if (index < end && code === DOT) {
      // A dotted tail ends the address and stands for its last two groups.
      if (count > 6 || !readDottedTail(text, start, end, count, strict)) return false;
      count += 2;
      break;
    }
    const digits = index - start;
    if (digits === 0 || digits > 4 || count === 8) return false;
    words[count++] = value;
    if (index === end) break;
    if (code !== COLON) return false;
    index++;
    if (index === end) return false; // a lone trailing colon
    if (text.charCodeAt(index) === COLON) {
      if (gap !== -1) return false;
      gap = count;
      index++;
    }
  }
  if (gap === -1) return count === 8;
  if (count > 7) return false;
  // Move the groups after `::` to the end and fill the gap with zeros.
  const moved = count - gap;
  for (let offset = 1; offset <= moved; offset++) words[8 - offset] = words[count - offset]!;
  words.fill(0, gap, 8 - moved);
  return true;
}

/**
 * The eight 16-bit groups of an IPv6 address (with `::` and a dotted IPv4 tail), or undefined.
 * @example
 * parseIPv6('64:ff9b::192.0.2.1'); // [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0201]
 */
export function parseIPv6(text: string): number[] | undefined {
  return readIPv6(text, false) ? Array.from(words) : undefined;
}

/**
 * The 16 bytes of an IPv6 address in the strict text of a PROXY v1 line (hex groups of one to
 * four digits, one `::`, an optional dotted IPv4 tail without leading zeros; no zone), or undefined.
 */
export function parseStrictIPv6(text: string): Buffer | undefined {
  if (!readIPv6(text, true)) return undefined;
  const bytes = Buffer.allocUnsafe(16);
  for (let index = 0; index < 8; index++) bytes.writeUInt16BE(words[index]!, index * 2);
  return bytes;
}

/**
 * The four octets of a dotted quad with no leading zeros (`10.0.0.1`, not `010.0.0.1`), or undefined.
 * @example
 * parseStrictIPv4('192.0.2.1'); // [192, 0, 2, 1]
 */
export function parseStrictIPv4(text: string): number[] | undefined {
  if (!readDottedTail(text, 0, text.length, 0, true)) return undefined;
  return [words[0]! >> 8, words[0]! & 0xff, words[1]! >> 8, words[1]! & 0xff];
}

/** `a.b.c.d` for the four bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/**
 * The text of the 16 bytes at `offset`, exactly as Node reports an IPv6 peer (libuv's inet_ntop):
 * lower case, the longest run of two or more zero groups as `::` (the first of equal runs), and a
 * dotted IPv4 tail for IPv4-mapped and IPv4-compatible addresses.
 * @example
 * formatIPv6(Buffer.from('20010db8000000000000000000000001', 'hex'), 0); // '2001:db8::1'
 */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  for (let index = 0; index < 8; index++) words[index] = (bytes[offset + index * 2]! << 8) | bytes[offset + index * 2 + 1]!;
  return formatWords();
}

/** The inet_ntop text of {@link words}. */
function formatWords(): string {
  let base = -1;
  let length = 0;
  for (let index = 0; index < 8; ) {
    if (words[index] !== 0) {
      index++;
      continue;
    }
    const start = index;
    while (index < 8 && words[index] === 0) index++;
    if (index - start > length) {
      base = start;
      length = index - start;
    }
  }
  if (length < 2) base = -1;
  let text = '';
  for (let index = 0; index < 8; index++) {
    if (base !== -1 && index >= base && index < base + length) {
      if (index === base) text += ':';
      continue;
    }
    if (index !== 0) text += ':';
    if (index === 6 && base === 0 && (length === 6 || (length === 5 && words[5] === 0xffff))) {
      return `${text}${words[6]! >> 8}.${words[6]! & 0xff}.${words[7]! >> 8}.${words[7]! & 0xff}`;
    }
    text += words[index]!.toString(16);
  }
  if (base !== -1 && base + length === 8) text += ':';
  return text;
}

/**
 * The text Node writes for an IPv6 address (see {@link formatIPv6}), its zone id kept as written,
 * or undefined when `address` is not one: `2001:DB8:0::1%eth0` => `2001:db8::1%eth0`, `::0` => `::`.
 */
export function canonicalIPv6(address: string): string | undefined {
  const zoneAt = address.indexOf('%');
  if (!readIPv6(zoneAt === -1 ? address : address.slice(0, zoneAt), false)) return undefined;
  return zoneAt === -1 ? formatWords() : formatWords() + address.slice(zoneAt);
}

/** {@link canonicalIPv6} for the strict text of a PROXY v1 line (no zone, no leading zeros in a dotted tail). */
export function canonicalStrictIPv6(text: string): string | undefined {
  return readIPv6(text, true) ? formatWords() : undefined;
}

/** Whether `address` is IPv6 text for the all-zero address (`::`, `0:0::0`, `::0.0.0.0`). */
export function isUnspecifiedIPv6(address: string): boolean {
  if (!readIPv6(address, false)) return false;
  for (let index = 0; index < 8; index++) if (words[index] !== 0) return false;
  return true;
}

/**
 * The IPv4 address of an IPv4-mapped IPv6 address written with a dotted tail, as Node writes an
 * IPv4 peer of a dual-stack socket (`::ffff:10.0.0.1` => `10.0.0.1`), or undefined.
 */
export function mappedIPv4(address: string): string | undefined {
  if (address.length < 14 || address.charCodeAt(0) !== COLON || address.charCodeAt(1) !== COLON || address.charCodeAt(6) !== COLON) return undefined;
  for (let index = 2; index < 6; index++) if ((address.charCodeAt(index) | 0x20) !== 0x66) return undefined; // f or F
  return readDottedTail(address, 7, address.length, 0, true) ? address.slice(7) : undefined;
}

/**
 * Returns the key a peer is counted under: IPv4 addresses as they are (IPv4-mapped IPv6
 * addresses unmapped), IPv6 addresses whole or cut to a prefix, zone id kept.
 * @param ipv6Prefix how many leading bits of an IPv6 address identify a peer (128 = the whole address)
 * @example
 * addressKey('::ffff:10.0.0.1', 128); // '10.0.0.1'
 * addressKey('2001:db8:1:2:aa::1', 64); // '2001:db8:1:2::/64'
 */
export function addressKey(address: string, ipv6Prefix: number): string {
  if (address.indexOf(':') === -1) return address; // IPv4, the common case: no parsing
  const mapped = mappedIPv4(address);
  if (mapped !== undefined) return mapped;
  if (ipv6Prefix >= 128) return address.toLowerCase();
  const zoneAt = address.indexOf('%');
  if (!readIPv6(zoneAt === -1 ? address : address.slice(0, zoneAt), false)) return address.toLowerCase();
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return `${words[6]! >> 8}.${words[6]! & 0xff}.${words[7]! >> 8}.${words[7]! & 0xff}`;
  }
  let key = '';
  let kept = 0;
  for (let bits = ipv6Prefix; kept < 8 && bits > 0; kept++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    key += (kept === 0 ? '' : ':') + (words[kept]! & mask).toString(16);
  }
  return `${key}${kept < 8 ? '::' : ''}/${ipv6Prefix}${zoneAt === -1 ? '' : address.slice(zoneAt)}`;
}
