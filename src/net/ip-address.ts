/**
 * The key a peer is counted under for `maxConnectionsPerAddress`: IPv4 addresses as they are
 * (IPv4-mapped IPv6 addresses unmapped), IPv6 addresses whole or cut to a prefix such as /64.
 */

/**
 * Returns the per-address counting key of `address`.
 * @param ipv6Prefix how many leading bits of an IPv6 address identify a peer (128 = the whole address)
 * @example
 * addressKey('::ffff:10.0.0.1', 128); // '10.0.0.1'
 * addressKey('2001:db8:1:2:aa::1', 64); // '2001:db8:1:2::/64'
 */
export function addressKey(address: string, ipv6Prefix: number): string {
  if (address.indexOf(':') === -1) return address; // IPv4, the common case: no parsing
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (ipv6Prefix >= 128) return address.toLowerCase();
  const zoneAt = address.indexOf('%');
  const zone = zoneAt === -1 ? '' : address.slice(zoneAt);
  const groups = parseIPv6(zoneAt === -1 ? address : address.slice(0, zoneAt));
  if (groups === undefined) return address.toLowerCase();
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  const kept: string[] = [];
  for (let index = 0, bits = ipv6Prefix; index < 8 && bits > 0; index++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    kept.push((groups[index]! & mask).toString(16));
  }
  return `${kept.join(':')}${kept.length < 8 ? '::' : ''}/${ipv6Prefix}${zone}`;
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a dotted IPv4 tail), or undefined. */
export function parseIPv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1]!, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  return [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
}

/** Groups of one side of `::`; a dotted IPv4 part is allowed only at the very end. */
function groupsOf(side: string, endsAddress: boolean): number[] | undefined {
  if (side === '') return [];
  const parts = side.split(':');
  const groups: number[] = [];
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index]!;
    if (part.includes('.')) {
      if (!endsAddress || index !== parts.length - 1) return undefined;
      const octets = part.split('.');
      if (octets.length !== 4 || octets.some((octet) => !/^\d{1,3}$/.test(octet) || Number(octet) > 255)) return undefined;
      const [a, b, c, d] = octets.map(Number) as [number, number, number, number];
      groups.push((a << 8) | b, (c << 8) | d);
    } else {
      if (!/^[0-9a-f]{1,4}$/i.test(part)) return undefined;
      groups.push(Number.parseInt(part, 16));
    }
  }
  return groups;
}
