/**
 * The address syntax of `--listen`: `HOST:PORT`, `[IPv6]:PORT`, `*:PORT` (both families) and
 * `:PORT` (no address: IPv4 any), optionally prefixed with a service name (`echo=HOST:PORT`).
 * Pure functions over strings; the library resolves what they produce.
 */
import { isIP } from 'node:net';
import { formatAddress } from '../index.ts';
import { UsageError } from './exit-code.ts';

/** One parsed `--listen` value. */
export interface ListenAddress {
  /** The library's host: a name, an unbracketed literal, `'*'`, or undefined for IPv4 any. */
  readonly host: string | undefined;
  readonly port: number;
  /** The service the address is for (`echo=...`), when one was named. */
  readonly service?: string;
  /** What the user wrote, for messages. */
  readonly text: string;
}

const SYNTAX = 'HOST:PORT, [IPv6]:PORT, *:PORT or :PORT';

/**
 * Parses `HOST:PORT`, `[v6]:PORT`, `*:PORT` or `:PORT`.
 * @throws {UsageError} naming `flag` and the expected syntax
 * @example
 * parseListenAddress('[::1]:7000'); // { host: '::1', port: 7000, text: '[::1]:7000' }
 */
export function parseListenAddress(text: string, flag = '--listen'): ListenAddress {
  const bad = (why: string): UsageError => new UsageError(`${flag} ${JSON.stringify(text)}: ${why}`);
  const colon = text.lastIndexOf(':');
  if (colon === -1) throw bad(`expected ${SYNTAX}`);
  const hostPart = text.slice(0, colon);
  const port = parsePort(text.slice(colon + 1));
  if (port === undefined) throw bad(`the port must be an integer from 0 to 65535`);
  if (hostPart === '') return { host: undefined, port, text };
  if (hostPart === '*') return { host: '*', port, text };
  if (hostPart.startsWith('[')) {
    if (!hostPart.endsWith(']')) throw bad(`expected ${SYNTAX}`);
    const literal = hostPart.slice(1, -1);
    if (isIP(literal) !== 6) throw bad('only an IPv6 address goes inside brackets');
    return { host: literal, port, text };
  }
  if (hostPart.includes(':')) throw bad(`an IPv6 address goes in brackets: [${hostPart}]:${port}`);
  if (!/^[A-Za-z0-9._-]+$/.test(hostPart)) throw bad('the host must be an IPv4 address or a host name');
  return { host: hostPart, port, text };
}

/**
 * Parses `[SERVICE=]ADDRESS`; `services` lists the names that may prefix it.
 * @throws {UsageError} for an unknown service or a malformed address
 */
export function parseServiceAddress(text: string, services: readonly string[], flag = '--listen'): ListenAddress {
  const match = /^([A-Za-z][\w-]*)=(.*)$/.exec(text);
  if (!match) return parseListenAddress(text, flag);
  const [, service = '', address = ''] = match;
  if (!services.includes(service)) {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: unknown service ${JSON.stringify(service)} (one of ${services.join(', ')})`);
  }
  return { ...parseListenAddress(address, flag), service };
}

/** `127.0.0.1:7000`, `[::1]:7000`, `*:7000`, `:7000`: the library's `formatAddress`, plus `:PORT` for no host. */
export function formatListenAddress(host: string | undefined, port: number): string {
  return host === undefined ? `:${port}` : formatAddress(host, port);
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}
