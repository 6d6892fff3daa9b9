/**
 * The `proxyProtocol` option of a TCP or UDP server: which sources must send a PROXY header
 * (the trusted balancers), what happens to the others, and the header's limits. Checked once,
 * at construction.
 */
import { BlockList } from 'node:net';
import { InvalidOptionError } from '../core/errors.ts';
import { durationOption, integerOption, oneOfOption, optionNames, optionsObject } from '../core/options.ts';
import type { AddressFamily } from '../net/addresses.ts';
import { compileAddressList, type AddressList } from '../limits/access-rules.ts';
import { DEFAULT_MAX_PROXY_HEADER_BYTES, V2_FIXED_LENGTH, V2_MAX_LENGTH } from './proxy-header.ts';

/** What becomes of a connection (or datagram) from a source outside `from`. */
export type ProxyUntrustedPolicy = 'refuse' | 'direct';

/**
 * The PROXY protocol on a TCP listener: every connection from a source in `from` must begin with
 * a PROXY header (v1 or v2), and the session then reports the client the header names. The
 * header is never guessed at: from a trusted source it is required, from any other source it is
 * never read (docs/proxy-protocol.md).
 */
export interface ProxyProtocolOptions {
  /** The balancers trusted to send the header: addresses and CIDR prefixes, or a `net.BlockList`. Required, not empty. */
  from: AddressList;
  /** The versions accepted; a header of another is refused (`proxy-header`, `SWB_ERR_PROXY_VERSION_REFUSED`). @default [1, 2] */
  versions?: readonly (1 | 2)[];
  /**
   * How long a trusted source has to send the complete header, in ms, from the accept; past it the
   * connection is refused (`proxy-timeout`). At least 3000, the spec's floor (a TCP retransmit).
   * @default 10000
   */
  timeout?: number;
  /**
   * A source outside `from`: `'refuse'` closes it at once (`proxy-untrusted`); `'direct'` serves it
   * as a direct connection, its bytes never read as a header.
   * @default 'refuse'
   */
  untrusted?: ProxyUntrustedPolicy;
  /** The longest header accepted, from 16 to 65551 bytes (v1 lines are held to 107). @default 4096 */
  maxHeaderBytes?: number;
}

/** The PROXY protocol on a UDP server: a v2 header in every datagram from a source in `from` (docs/proxy-protocol.md). */
export interface UdpProxyProtocolOptions {
  /** The balancers trusted to send the header: addresses and CIDR prefixes, or a `net.BlockList`. Required, not empty. */
  from: AddressList;
  /** A datagram from a source outside `from`: dropped (`proxy-untrusted`), or served as sent (`'direct'`). @default 'refuse' */
  untrusted?: ProxyUntrustedPolicy;
  /** The longest header accepted, from 16 to 65551 bytes. @default 4096 */
  maxHeaderBytes?: number;
}

/** The header's default deadline: 10 s, as go-proxyproto (a slow network plus a TLS client). */
export const DEFAULT_PROXY_TIMEOUT = 10_000;

/** The spec's floor for the header deadline: "at least 3 seconds to cover a TCP retransmit". */
export const MIN_PROXY_TIMEOUT = 3000;

/** The option after checking. @internal */
export interface NormalizedProxyProtocol {
  /** Whether `address` is a trusted source. */
  trusts(address: string, family: AddressFamily): boolean;
  readonly from: AddressList;
  readonly versions: readonly (1 | 2)[];
  readonly timeout: number;
  readonly untrusted: ProxyUntrustedPolicy;
  readonly maxHeaderBytes: number;
}

const TCP_NAMES = optionNames<ProxyProtocolOptions>({ from: true, versions: true, timeout: true, untrusted: true, maxHeaderBytes: true }, 'proxyProtocol');
const UDP_NAMES = optionNames<UdpProxyProtocolOptions>({ from: true, untrusted: true, maxHeaderBytes: true }, 'proxyProtocol');

/**
 * Checks a TCP server's `proxyProtocol` option; undefined when it is left out.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the key (`proxyProtocol.timeout`) and its constraint
 */
export function normalizeProxyProtocol(value: ProxyProtocolOptions | undefined): NormalizedProxyProtocol | undefined {
  if (value === undefined) return undefined;
  const given = optionsObject('proxyProtocol', value, TCP_NAMES);
  const timeout = durationOption('proxyProtocol.timeout', given.timeout, DEFAULT_PROXY_TIMEOUT);
  if (timeout < MIN_PROXY_TIMEOUT) {
    throw new InvalidOptionError('proxyProtocol.timeout', `must be at least ${MIN_PROXY_TIMEOUT} ms (the PROXY spec's floor, to cover a TCP retransmit)`, timeout);
  }
  const versions = given.versions ?? [1, 2];
  if (!Array.isArray(versions) || versions.length === 0 || versions.some((version) => version !== 1 && version !== 2)) {
    throw new InvalidOptionError('proxyProtocol.versions', 'must be a non-empty array of 1 and 2', versions);
  }
  return { ...common(given), versions: Object.freeze([...new Set(versions)]) as readonly (1 | 2)[], timeout };
}

/**
 * Checks a UDP server's `proxyProtocol` option (v2 only: v1 has no datagram form); undefined when it is left out.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the key and its constraint
 */
export function normalizeUdpProxyProtocol(value: UdpProxyProtocolOptions | undefined): NormalizedProxyProtocol | undefined {
  if (value === undefined) return undefined;
  const given = optionsObject('proxyProtocol', value, UDP_NAMES);
  return { ...common(given), versions: Object.freeze([2]) as readonly 2[], timeout: 0 };
}

/** `ask`, remembering its answers for up to {@link TRUST_CACHE_SIZE} addresses (then starting over). */
function cachedTrust(ask: (address: string, family: AddressFamily) => boolean): (address: string, family: AddressFamily) => boolean {
  const answers = new Map<string, boolean>();
  return (address, family) => {
    let answer = answers.get(address);
    if (answer === undefined) {
      answer = ask(address, family);
      if (answers.size >= TRUST_CACHE_SIZE) answers.clear();
      answers.set(address, answer);
    }
    return answer;
  };
}

/** Addresses whose trust is remembered: balancers are few, and a flood of clients from elsewhere cannot grow it. */
const TRUST_CACHE_SIZE = 1024;

function common(given: Partial<UdpProxyProtocolOptions>): Pick<NormalizedProxyProtocol, 'trusts' | 'from' | 'untrusted' | 'maxHeaderBytes'> {
  if (given.from === undefined) throw new InvalidOptionError('proxyProtocol.from', 'is required: the addresses or CIDR prefixes of the balancers trusted to send the header', undefined);
  const compiled = compileAddressList('proxyProtocol.from', given.from);
  if (compiled === undefined) throw new InvalidOptionError('proxyProtocol.from', 'must list at least one trusted source', given.from);
  const list: BlockList = compiled.blockList;
  const ask = (address: string, family: AddressFamily): boolean => list.check(address, family === 'IPv6' ? 'ipv6' : 'ipv4');
  return {
    // A list given as addresses never changes, and a balancer is a handful of addresses: the
    // answers are kept (bounded). A BlockList the caller keeps is asked every time.
    trusts: given.from instanceof BlockList ? ask : cachedTrust(ask),
    from: compiled.source,
    untrusted: oneOfOption('proxyProtocol.untrusted', given.untrusted, ['refuse', 'direct'] as const, 'refuse'),
    maxHeaderBytes: integerOption('proxyProtocol.maxHeaderBytes', given.maxHeaderBytes, DEFAULT_MAX_PROXY_HEADER_BYTES, V2_FIXED_LENGTH, V2_MAX_LENGTH),
  };
}
