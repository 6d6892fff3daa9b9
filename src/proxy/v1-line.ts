/**
 * PROXY v1, the text line: `PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>\r\n`
 * or `PROXY UNKNOWN ...\r\n`, at most 107 bytes. Every prefix is checked as it arrives, so a line
 * that cannot become valid fails at its first wrong field rather than at the CRLF.
 */
import { ErrorCode } from '../core/errors.ts';
import { canonicalStrictIPv6, formatIPv4, formatIPv6, parseStrictIPv4 } from '../net/ip-address.ts';
import type { ProxyHeader, ProxyInetAddress } from './proxy-header.ts';
import { NO_TLVS, V1_SIGNATURE } from './proxy-header.ts';
import { ProxyProtocolError } from './proxy-error.ts';
import type { InetEndpoints } from './endpoints.ts';
import { ipv4Text } from './ipv4-text.ts';

const CR = 0x0d;
const LF = 0x0a;
const PROTOCOLS = ['TCP4', 'TCP6', 'UNKNOWN'] as const;
const PORT = /^(?:0|[1-9]\d{0,4})$/;
const IPV4_CHARS = /^[0-9.]*$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]*$/;
/** The longest IPv6 text: eight groups, or six and a dotted quad. */
const IPV6_MAX_TEXT = 45;

/** A complete v1 line: the header and the line's length with its CRLF. */
export interface V1Line {
  header: ProxyHeader;
  length: number;
}

/**
 * Inspects the first `length` bytes of `bytes`, which start with `PROXY`: the complete line,
 * undefined when more bytes may still make one, or a thrown {@link ProxyProtocolError}.
 * @param maxLength the longest line accepted, CRLF included (107 or less)
 */
export function inspectV1(bytes: Uint8Array, length: number, maxLength: number): V1Line | undefined {
  // A CRLF must end by maxLength, so its CR lies before maxLength - 1; later bytes are never read.
  const window = Math.min(length, maxLength - 1);
  let end = V1_SIGNATURE.length;
  while (end < window && bytes[end] !== CR && bytes[end] !== LF) end++;
  const crlf = end < window && bytes[end] === CR && end + 1 < length && bytes[end + 1] === LF;
  // The line balancers send most, whole and valid: read from the bytes, with no text of the line made.
  if (crlf) {
    const header = scanTcp4Line(bytes, end);
    if (header !== undefined) return { header, length: end + 2 };
  }
  // The parser hands a Buffer: decoded in place, with no view made for it.
  const text = Buffer.isBuffer(bytes) ? bytes.toString('latin1', 0, end) : Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
  if (end === window) {
    checkPrefix(text);
    if (window === maxLength - 1) throw new ProxyProtocolError(ErrorCode.PROXY_HEADER_TOO_LARGE, 1, `no CRLF within ${maxLength} bytes`);
    return undefined;
  }
  // The usual case, a whole valid line: parsed once. Anything else goes the long way, so a bad
  // line fails with the message (and at the field) it would fail with split anywhere.
  if (crlf) {
    const header = parseValidLine(text);
    if (header !== undefined) return { header, length: end + 2 };
  }
  checkPrefix(text);
  if (bytes[end] === LF) throw bad('a lone LF ends the line; CRLF is required');
  if (end + 1 >= length) return undefined;
  if (bytes[end + 1] !== LF) throw bad('a lone CR in the line; CRLF is required');
  return { header: parseLine(text), length: end + 2 };
}

const TCP4_PREFIX = Buffer.from('PROXY TCP4 ', 'latin1');
const SPACE = 0x20;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** The octets of the two addresses {@link scanTcp4Line} reads, source then destination. */
const octets = new Uint8Array(8);

/**
 * The fast path for the line balancers send most: a valid `PROXY TCP4 a.b.c.d e.f.g.h p q` in
 * `bytes[0, end)`, scanned byte by byte with no string split, regular expression or closure, and
 * no text of the line (the addresses' texts come from their octets: {@link ipv4Text}); its
 * header, or undefined for anything else (which {@link parseValidLine} then judges, so the
 * language accepted is the same). @internal (exported for the differential test)
 */
export function scanTcp4Line(bytes: Uint8Array, end: number): ProxyHeader | undefined {
  if (end < TCP4_PREFIX.length) return undefined;
  for (let i = 0; i < TCP4_PREFIX.length; i++) if (bytes[i] !== TCP4_PREFIX[i]) return undefined;
  let at = TCP4_PREFIX.length;
  let sourcePort = 0;
  let destinationPort = 0;
  // Two dotted quads, then two ports; each field checked as it is scanned.
  for (let field = 0; field < 4; field++) {
    const parts = field < 2 ? 4 : 1;
    for (let part = 0; part < parts; part++) {
      const first = at;
      let value = 0;
      while (at < end && bytes[at]! >= DIGIT_0 && bytes[at]! <= DIGIT_9) value = value * 10 + bytes[at++]! - DIGIT_0;
      const digits = at - first;
      if (digits === 0 || (digits > 1 && bytes[first] === DIGIT_0)) return undefined;
      if (field < 2 ? digits > 3 || value > 255 : digits > 5 || value > 65535) return undefined;
      if (part < parts - 1) {
        if (bytes[at] !== DOT) return undefined;
        at++;
      }
      if (field < 2) octets[field * 4 + part] = value;
      else if (field === 2) sourcePort = value;
      else destinationPort = value;
    }
    if (field < 3) {
      if (bytes[at] !== SPACE) return undefined;
      at++;
    }
  }
  if (at !== end) return undefined;
  const source: ProxyInetAddress = { family: 'IPv4', address: ipv4Text(octets[0]!, octets[1]!, octets[2]!, octets[3]!), port: sourcePort };
  const destination: ProxyInetAddress = { family: 'IPv4', address: ipv4Text(octets[4]!, octets[5]!, octets[6]!, octets[7]!), port: destinationPort };
  return { version: 1, command: 'proxy', family: 'IPv4', transport: 'stream', source, destination, tlvs: NO_TLVS };
}

/** The header of a line (no CRLF) that is valid as a whole, or undefined: every line {@link checkPrefix} and {@link parseLine} both accept, and no other. */
export function parseValidLine(text: string): ProxyHeader | undefined {
  if (!text.startsWith('PROXY ')) return undefined;
  try {
    return parseLine(text);
  } catch {
    return undefined;
  }
}

/** Throws unless `text` (the line so far, no CR or LF) can still grow into a valid line. */
function checkPrefix(text: string): void {
  if (text.length === V1_SIGNATURE.length) return;
  if (text[V1_SIGNATURE.length] !== ' ') throw bad(`expected a space after PROXY, got ${show(text.slice(0, 6))}`);
  const fields = text.slice(V1_SIGNATURE.length + 1).split(' ');
  const protocol = fields[0]!;
  if (fields.length === 1) {
    if (!PROTOCOLS.some((name) => name.startsWith(protocol))) throw bad(`unknown protocol ${show(protocol)}; expected TCP4, TCP6 or UNKNOWN`);
    return;
  }
  if (protocol === 'UNKNOWN') return; // the receiver ignores the rest of the line
  if (protocol !== 'TCP4' && protocol !== 'TCP6') throw bad(`unknown protocol ${show(protocol)}; expected TCP4, TCP6 or UNKNOWN`);
  const values = fields.slice(1);
  if (values.length > 4) throw bad('more than four fields after the protocol');
  values.forEach((value, index) => {
    const last = index === values.length - 1;
    if (index < 2) checkAddressPrefix(protocol, value, FIELD_NAMES[index]!, last);
    else if (!(last && value === '') && !isPort(value)) throw bad(`${FIELD_NAMES[index]} ${show(value)} is not a decimal from 0 to 65535 without leading zeros`);
  });
}

const FIELD_NAMES = ['source address', 'destination address', 'source port', 'destination port'] as const;

function checkAddressPrefix(protocol: 'TCP4' | 'TCP6', value: string, name: string, inProgress: boolean): void {
  if (!inProgress) {
    if (parseAddress(protocol, value) === undefined) throw badAddress(protocol, value, name);
    return;
  }
  if (protocol === 'TCP6') {
    if (!IPV6_CHARS.test(value) || value.length > IPV6_MAX_TEXT) throw badAddress(protocol, value, name);
    return;
  }
  const parts = value.split('.');
  const partial = parts.pop()!;
  if (!IPV4_CHARS.test(value) || parts.length > 3 || parts.some((part) => !isOctet(part)) || (partial !== '' && !isOctet(partial))) {
    throw badAddress(protocol, value, name);
  }
}

function parseLine(text: string): ProxyHeader {
  const fields = text.split(' ');
  const protocol = fields[1];
  if (protocol === 'UNKNOWN') {
    return { version: 1, command: 'proxy', family: 'unspec', transport: 'unspec', source: undefined, destination: undefined, tlvs: NO_TLVS };
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') throw bad(`unknown protocol ${show(protocol ?? '')}; expected TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 6) throw bad(`${protocol} needs four fields after the protocol, got ${fields.length - 2}`);
  const family = protocol === 'TCP4' ? 'IPv4' : 'IPv6';
  const [source, destination] = [0, 1].map((index): ProxyInetAddress => {
    const address = parseAddress(protocol, fields[2 + index]!);
    if (address === undefined) throw badAddress(protocol, fields[2 + index]!, FIELD_NAMES[index]!);
    const port = fields[4 + index]!;
    if (!isPort(port)) throw bad(`${FIELD_NAMES[2 + index]} ${show(port)} is not a decimal from 0 to 65535 without leading zeros`);
    return { family, address, port: Number(port) };
  }) as [ProxyInetAddress, ProxyInetAddress];
  return { version: 1, command: 'proxy', family, transport: 'stream', source, destination, tlvs: NO_TLVS };
}

/** The address in Node's text for it, or undefined when it is not valid for the protocol. */
function parseAddress(protocol: 'TCP4' | 'TCP6', value: string): string | undefined {
  if (protocol === 'TCP4') {
    const octets = parseStrictIPv4(value);
    return octets === undefined ? undefined : octets.join('.');
  }
  return canonicalStrictIPv6(value);
}

function isOctet(text: string): boolean {
  return /^(?:0|[1-9]\d{0,2})$/.test(text) && Number(text) <= 255;
}

function isPort(text: string): boolean {
  return PORT.test(text) && Number(text) <= 65535;
}

/**
 * The v1 line for two endpoints of one family (their address bytes already checked), or
 * `PROXY UNKNOWN\r\n` without them.
 */
export function encodeV1Line(endpoints: InetEndpoints | undefined): Buffer {
  if (endpoints === undefined) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const { family, source, destination } = endpoints;
  const text = family === 'IPv4' ? formatIPv4 : formatIPv6;
  const line = `PROXY ${family === 'IPv4' ? 'TCP4' : 'TCP6'} ${text(source.bytes, 0)} ${text(destination.bytes, 0)} ${source.port} ${destination.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

function badAddress(protocol: 'TCP4' | 'TCP6', value: string, name: string): ProxyProtocolError {
  return bad(`${name} ${show(value)} is not ${protocol === 'TCP4' ? 'a dotted IPv4 address without leading zeros' : 'an IPv6 address'}`);
}

function bad(message: string): ProxyProtocolError {
  return new ProxyProtocolError(ErrorCode.PROXY_BAD_HEADER, 1, message);
}

/** Peer bytes in a message: quoted, control characters escaped, cut short. */
function show(text: string): string {
  return JSON.stringify(text.length > 48 ? `${text.slice(0, 48)}\u2026` : text);
}
