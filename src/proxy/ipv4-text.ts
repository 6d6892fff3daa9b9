/**
 * The text of an IPv4 address a PROXY header names, from its four octets, with the texts made
 * recently kept by value: behind a balancer every connection names the same few destinations
 * (the balancer's own front-end addresses) and clients that come back, so a header's addresses
 * cost no new string when they were seen lately. The texts are the same values as
 * `formatIPv4` makes (`a.b.c.d`, no leading zeros); a string's identity is not observable.
 */

/** Slots of the cache: direct-mapped by a hash of the address, one address per slot (a newer one replaces it). */
const SLOTS = 256;
const keys = new Int32Array(SLOTS);
const texts: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);

/**
 * `a.b.c.d` for the octets given (each 0-255).
 * @internal
 * @example
 * ipv4Text(198, 18, 0, 7); // '198.18.0.7'
 */
export function ipv4Text(a: number, b: number, c: number, d: number): string {
  const key = (a << 24) | (b << 16) | (c << 8) | d;
  const slot = (a * 7 + b * 13 + c * 31 + d) & (SLOTS - 1);
  const known = texts[slot];
  if (known !== undefined && keys[slot] === key) return known;
  const text = `${a}.${b}.${c}.${d}`;
  keys[slot] = key;
  texts[slot] = text;
  return text;
}
