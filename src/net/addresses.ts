/**
 * Turns what a user asks to listen on into the list of sockets to bind: the address rules of
 * docs/addresses.md, as a pure step with an injectable resolver (no sockets here).
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { ErrorCode, InvalidOptionError, OpError, opErrorFromSystem, type Transport } from '../core/errors.ts';
import { canonicalIPv6, isUnspecifiedIPv6, mappedIPv4 } from './ip-address.ts';
import { nodeDns } from '../core/builtins.ts';

/** An IP address family as Node names it. */
export type AddressFamily = 'IPv4' | 'IPv6';

/** What to listen on: nothing (IPv4 any), one host or literal, or a list whose union is served. */
export type HostSpec = string | readonly string[] | undefined;

/** One socket to bind: the outcome of resolving a {@link HostSpec}. */
export interface ListenTarget {
  /** The address to bind, unbracketed, zone id kept (`fe80::1%eth0`). */
  readonly host: string;
  readonly family: AddressFamily;
  /** For IPv6 sockets: refuse IPv4-mapped peers. `::` alone is dual-stack (false). */
  readonly ipv6Only: boolean;
  /** What the user wrote that produced this target (for messages). */
  readonly requested: string;
  /**
   * True for an address literal the user named. A literal's family is never skipped: an IPv6
   * literal on a host without IPv6 fails. Wildcards and names may skip an unsupported family.
   */
  readonly literal: boolean;
}

/** One address a resolver returned. */
export interface LookupAddress {
  readonly address: string;
  readonly family: number;
}

/** Resolves a host name to every address; the default is `dns.lookup` with `all` and `verbatim` order. */
export type LookupFunction = (hostname: string) => Promise<readonly LookupAddress[]>;

/** The default resolver: every address `getaddrinfo` yields, in the resolver's order. */
export const lookupAll: LookupFunction = (hostname) => nodeDns().lookup(hostname, { all: true, order: 'verbatim' });

/** The IPv4 wildcard address, as resolved targets spell it. */
export const IPV4_ANY = '0.0.0.0';
/** The IPv6 wildcard address, as resolved targets spell it (canonical: `::0` becomes `::`). */
export const IPV6_ANY = '::';

/**
 * Whether a host asks for every address: `''` (no host), `'*'`, `'0.0.0.0'`, or the all-zero IPv6
 * address in any spelling (`'::'`, `'::0'`, `'[::]'`), as a user writes it or as Node reports it.
 */
export function isWildcardHost(host: string): boolean {
  if (host === IPV4_ANY || host === IPV6_ANY || host === '' || host === '*') return true;
  return host.indexOf(':') !== -1 && isUnspecifiedIPv6(unbracket(host));
}

/**
 * Resolves a host specification to the sockets to bind, deduplicated, in order.
 *
 * - nothing or `''` => `0.0.0.0` (IPv4 only, the seed's rule)
 * - `'::'` / `'::0'` => one dual-stack socket; `'*'` => `0.0.0.0` + `::` (IPv6-only), one each
 * - `'localhost'` => `127.0.0.1` and `::1`, whatever the resolver says
 * - a literal => itself (brackets removed); a name => every address it resolves to
 * - a list => the union
 *
 * @param ipv6Only overrides the dual-stack choice for IPv6 sockets (not for `'*'`, whose IPv6 socket is always IPv6-only)
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a malformed host
 * @throws {OpError} `SWB_ERR_NAME_NOT_RESOLVED` (asynchronously) when a name does not resolve
 * @example
 * await resolveListenTargets('localhost', 'tcp'); // [{ host: '127.0.0.1', ... }, { host: '::1', ... }]
 */
export async function resolveListenTargets(
  spec: HostSpec,
  transport: Transport,
  options: { readonly ipv6Only?: boolean | undefined; readonly lookup?: LookupFunction | undefined; readonly port?: number } = {},
): Promise<ListenTarget[]> {
  const hosts = normalizeHostSpec(spec);
  const lookup = options.lookup ?? lookupAll;
  const lists = await Promise.all(hosts.map((host) => targetsForHost(host, transport, lookup, options.ipv6Only, options.port)));
  return dedupeTargets(lists.flat());
}

/** Validates a host specification and returns it as a list (`[]` never: no host is `['']`). */
export function normalizeHostSpec(spec: HostSpec): string[] {
  if (spec === undefined) return [''];
  const list = typeof spec === 'string' ? [spec] : spec;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidOptionError('host', 'must be a string or a non-empty array of strings', spec);
  }
  return list.map((host: unknown) => {
    if (typeof host !== 'string') throw new InvalidOptionError('host', 'must be a string or a non-empty array of strings', host);
    const trimmed = host.trim();
    if (/[\s/]/.test(trimmed)) throw new InvalidOptionError('host', 'must be an address or a host name', host);
    // `name:port` or `[v6]:port`; a bare IPv6 literal has two colons or more.
    const withPort = /^(\[[^\]]*\]|[^:]+):(\d+)$/.exec(trimmed);
    if (withPort !== null) {
      const example = `{ host: ${JSON.stringify(unbracket(withPort[1]!))}, port: ${Number(withPort[2])} }`;
      throw new InvalidOptionError('host', `must not carry a port: give the port as the \`port\` option (${example})`, host);
    }
    return trimmed;
  });
}

async function targetsForHost(
  requested: string,
  transport: Transport,
  lookup: LookupFunction,
  ipv6Only: boolean | undefined,
  port: number | undefined,
): Promise<ListenTarget[]> {
  if (requested === '') return [target(IPV4_ANY, 'IPv4', false, requested, false)];
  if (requested === '*') {
    return [target(IPV4_ANY, 'IPv4', false, requested, false), target(IPV6_ANY, 'IPv6', true, requested, false)];
  }
  const literal = unbracket(requested);
  const version = isIP(literal);
  if (version === 4) return [target(literal, 'IPv4', false, requested, true)];
  if (version === 6) return [target(canonicalIPv6(literal) ?? literal, 'IPv6', ipv6Only ?? false, requested, true)];
  if (literal !== requested) throw new InvalidOptionError('host', 'must hold an IPv6 address inside brackets', requested);
  if (literal.toLowerCase() === 'localhost') {
    return [target('127.0.0.1', 'IPv4', false, requested, false), target('::1', 'IPv6', ipv6Only ?? false, requested, false)];
  }
  let addresses: readonly LookupAddress[];
  try {
    addresses = await lookup(literal);
  } catch (cause) {
    throw opErrorFromSystem({ op: 'lookup', transport, address: literal, port }, cause, ErrorCode.NAME_NOT_RESOLVED);
  }
  if (addresses.length === 0) {
    throw new OpError({ op: 'lookup', transport, address: literal, port }, ErrorCode.NAME_NOT_RESOLVED, 'name resolved to no address');
  }
  return addresses.map(({ address, family }) =>
    family === 6 ? target(canonicalIPv6(address) ?? address, 'IPv6', ipv6Only ?? false, requested, false) : target(address, 'IPv4', false, requested, false),
  );
}

function target(host: string, family: AddressFamily, ipv6Only: boolean, requested: string, literal: boolean): ListenTarget {
  return { host, family, ipv6Only, requested, literal };
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function dedupeTargets(targets: ListenTarget[]): ListenTarget[] {
  const seen = new Set<string>();
  return targets.filter((candidate) => {
    if (seen.has(candidate.host)) return false;
    seen.add(candidate.host);
    return true;
  });
}

/**
 * `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack socket) becomes `127.0.0.1`, family IPv4;
 * anything else is returned unchanged.
 */
export function unmapAddress(address: string, family: string): { address: string; family: AddressFamily } {
  if (family === 'IPv6') {
    const ipv4 = mappedIPv4(address);
    if (ipv4 !== undefined) return { address: ipv4, family: 'IPv4' };
  }
  return { address, family: family === 'IPv6' ? 'IPv6' : 'IPv4' };
}

/**
 * Whether this host has a configured IPv6 stack: some interface carries an IPv6 address.
 * A kernel with IPv6 disabled by sysctl can still create `AF_INET6` sockets, so the socket call
 * alone is no test; an interface address is.
 */
export function hostHasIPv6(): boolean {
  for (const entries of Object.values(networkInterfaces())) {
    if (entries?.some((entry) => entry.family === 'IPv6')) return true;
  }
  return false;
}
