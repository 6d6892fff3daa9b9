/**
 * Per-interface binding: a wildcard listen target becomes one target per local interface
 * address, so a UDP reply always leaves from the address its request was sent to (the CE
 * procedure's "one socket per address"; Node has no IP_PKTINFO to do it on one socket).
 * Pure functions over `os.networkInterfaces()`-shaped data, plus a Linux reader for the
 * IPv6 addresses that cannot be bound yet.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { IPV4_ANY, IPV6_ANY, type ListenTarget } from './addresses.ts';
import { canonicalIPv6, formatIPv6 } from './ip-address.ts';
import { nodeFs } from '../core/builtins.ts';

/** The shape `os.networkInterfaces()` returns. */
export type InterfaceTable = Readonly<Record<string, readonly NetworkInterfaceInfo[] | undefined>>;

/** Why a wildcard or an interface address was not turned into a target. */
export interface SkippedAddress {
  readonly host: string;
  readonly requested: string;
  readonly reason: string;
}

/** The outcome of {@link expandWildcardTargets}. */
export interface ExpandedTargets {
  readonly targets: ListenTarget[];
  readonly skipped: SkippedAddress[];
}

/**
 * Replaces every wildcard target (`0.0.0.0`, `::`) by one target per interface address of the
 * families it serves: `0.0.0.0` => IPv4, `::` IPv6-only => IPv6, `::` dual-stack => both.
 * IPv6 link-local addresses carry their zone (`fe80::1%eth0`). Other targets are kept; the
 * result is deduplicated in order. A wildcard with no address of a family left keeps its
 * wildcard target for that family, so the ordinary rules apply to it (an IPv6 wildcard on a
 * host without IPv6 is skipped or refused by `bindGroup`).
 *
 * @param unusable canonical IPv6 addresses that cannot be bound yet (see {@link readUnbindableIPv6Addresses})
 * @example
 * expandWildcardTargets([{ host: '0.0.0.0', family: 'IPv4', ... }], os.networkInterfaces());
 * // targets: 127.0.0.1, 192.0.2.1, 192.0.2.2 ...
 */
export function expandWildcardTargets(
  targets: readonly ListenTarget[],
  interfaces: InterfaceTable,
  unusable: ReadonlySet<string> = new Set(),
): ExpandedTargets {
  const expanded: ListenTarget[] = [];
  const skipped: SkippedAddress[] = [];
  for (const target of targets) {
    if (target.host === IPV4_ANY) {
      expanded.push(...familyTargets(target, 'IPv4', interfaces, unusable, skipped));
    } else if (target.host === IPV6_ANY) {
      if (!target.ipv6Only) expanded.push(...familyTargets({ ...target, host: IPV4_ANY, family: 'IPv4' }, 'IPv4', interfaces, unusable, skipped));
      expanded.push(...familyTargets({ ...target, ipv6Only: true }, 'IPv6', interfaces, unusable, skipped));
    } else {
      expanded.push(target);
    }
  }
  const byHost = new Map<string, ListenTarget>();
  for (const target of expanded) if (!byHost.has(target.host)) byHost.set(target.host, target);
  return { targets: [...byHost.values()], skipped };
}

function familyTargets(
  wildcard: ListenTarget,
  family: 'IPv4' | 'IPv6',
  interfaces: InterfaceTable,
  unusable: ReadonlySet<string>,
  skipped: SkippedAddress[],
): ListenTarget[] {
  const found: ListenTarget[] = [];
  let seenFamily = false;
  for (const [name, entries] of Object.entries(interfaces)) {
    for (const entry of entries ?? []) {
      if (entry.family !== family) continue;
      seenFamily = true;
      const host = family === 'IPv6' && isLinkLocal(entry.address) ? `${entry.address}%${name}` : entry.address;
      if (family === 'IPv6' && unusable.has(canonicalIPv6(entry.address) ?? entry.address)) {
        skipped.push({ host, requested: wildcard.requested, reason: 'the address is tentative (IPv6 duplicate address detection has not finished) or failed detection' });
        continue;
      }
      found.push({ host, family, ipv6Only: family === 'IPv6', requested: wildcard.requested, literal: false });
    }
  }
  return seenFamily ? found : [wildcard];
}

function isLinkLocal(address: string): boolean {
  return /^fe[89ab]/i.test(address);
}

// Flags of /proc/net/if_inet6 (include/uapi/linux/if_addr.h): the kernel refuses to bind these.
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

/**
 * Parses `/proc/net/if_inet6` and returns the IPv6 addresses whose flags say they cannot be
 * bound: tentative (duplicate address detection running, about a second after an interface
 * comes up) or failed detection. `os.networkInterfaces()` lists them, `bind()` refuses them.
 * @example
 * parseUnbindableIPv6('fe800000000000000000000000000001 02 40 20 40 eth0\n'); // Set { 'fe80::1' }
 */
export function parseUnbindableIPv6(table: string): Set<string> {
  const found = new Set<string>();
  for (const line of table.split('\n')) {
    const [hex, , , , flags] = line.trim().split(/\s+/);
    if (hex === undefined || hex.length !== 32 || flags === undefined) continue;
    if ((Number.parseInt(flags, 16) & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) === 0) continue;
    const bytes = Buffer.from(hex, 'hex');
    if (bytes.length === 16) found.add(formatIPv6(bytes, 0));
  }
  return found;
}

/** The unbindable IPv6 addresses of this host (Linux); an empty set elsewhere or when unreadable. */
export function readUnbindableIPv6Addresses(): Set<string> {
  if (process.platform !== 'linux') return new Set();
  try {
    return parseUnbindableIPv6(nodeFs().readFileSync('/proc/net/if_inet6', 'utf8'));
  } catch {
    return new Set();
  }
}
