/**
 * Strings in a v2 header, held to the encoding the spec gives each: UTF-8 (AUTHORITY, the SSL
 * CN, UNIX paths), US-ASCII (the other SSL strings, NETNS), or plain bytes (ALPN). Bytes that are
 * not in the field's encoding reject the header, so every string reported is what was sent and
 * re-encodes to the same bytes.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCode, InvalidOptionError } from '../core/errors.ts';
import { ProxyProtocolError } from './proxy-error.ts';

/** The UTF-8 text of `bytes[start, end)`. @throws {ProxyProtocolError} when it is not UTF-8 */
export function readUtf8(bytes: Buffer, start: number, end: number, what: string): string {
  if (!isUtf8(bytes.subarray(start, end))) throw new ProxyProtocolError(ErrorCode.PROXY_BAD_HEADER, 2, `${what} is not UTF-8`);
  return bytes.toString('utf8', start, end);
}

/** The US-ASCII text of `bytes[start, end)`. @throws {ProxyProtocolError} for a byte above 0x7F */
export function readAscii(bytes: Buffer, start: number, end: number, what: string): string {
  for (let index = start; index < end; index++) {
    if (bytes[index]! > 0x7f) throw new ProxyProtocolError(ErrorCode.PROXY_BAD_HEADER, 2, `${what} is not US-ASCII`);
  }
  return bytes.toString('latin1', start, end);
}

/** `value` as UTF-8. @throws {InvalidOptionError} naming `name` unless a well-formed string */
export function utf8Bytes(name: string, value: unknown): Buffer {
  if (typeof value !== 'string' || !value.isWellFormed()) throw new InvalidOptionError(name, 'must be a well-formed string', value);
  return Buffer.from(value, 'utf8');
}

/** `value` as US-ASCII. @throws {InvalidOptionError} naming `name` for a character above U+007F */
export function asciiBytes(name: string, value: unknown): Buffer {
  if (typeof value !== 'string' || /[^\x00-\x7f]/.test(value)) throw new InvalidOptionError(name, 'must be a US-ASCII string', value);
  return Buffer.from(value, 'latin1');
}

/** `value` one byte per character, as Node gives `alpnProtocol`. @throws {InvalidOptionError} above U+00FF */
export function latin1Bytes(name: string, value: unknown): Buffer {
  if (typeof value !== 'string' || /[^\x00-\xff]/.test(value)) throw new InvalidOptionError(name, 'must be a string of characters U+0000 to U+00FF', value);
  return Buffer.from(value, 'latin1');
}
