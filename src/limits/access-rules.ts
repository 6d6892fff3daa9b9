/**
 * Allow and deny lists by address and CIDR prefix, checked with `net.BlockList` before a
 * session opens. Lists are replaced whole at runtime (a BlockList cannot drop a rule).
 */
import { BlockList, isIP } from 'node:net';
import { InvalidOptionError } from '../core/errors.ts';
import { optionNames, optionsObject } from '../core/options.ts';

/**
 * Addresses and CIDR prefixes (`'10.0.0.0/8'`, `'::1'`, `'2001:db8::/32'`), or a `net.BlockList`
 * the caller keeps (rules it adds later apply at once).
 */
export type AddressList = readonly string[] | BlockList;

/** The lists in force, as `server.setAccessRules()` takes and returns them. */
export interface AccessRuleSet {
  /** When set (and not empty), only peers matching it are admitted. `null` removes it. */
  allow?: AddressList | null;
  /** Peers matching it are refused, whatever `allow` says. `null` removes it. */
  deny?: AddressList | null;
}

const ACCESS_RULE_NAMES = optionNames<AccessRuleSet>({ allow: true, deny: true });

interface CompiledList {
  readonly source: AddressList;
  readonly blockList: BlockList;
}

/** Why the access rules refuse an address; a server reports these values as its own refusal causes. */
export const AccessRefusal = {
  /** The address matched the deny list. */
  DENIED: 'denied',
  /** An allow list is set and the address is not on it. */
  NOT_ALLOWED: 'not-allowed',
} as const;
/** One of the {@link AccessRefusal} values. */
export type AccessRefusal = (typeof AccessRefusal)[keyof typeof AccessRefusal];

/** Checks peers against the allow and deny lists. */
export class AccessRules {
  #allow: CompiledList | undefined;
  #deny: CompiledList | undefined;

  /**
   * Replaces the lists given; a list left out stays as it was.
   * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for an entry that is not an address or CIDR prefix, or a key other than `allow` and `deny`
   */
  set(input: AccessRuleSet): void {
    const rules = optionsObject('rules', input, ACCESS_RULE_NAMES);
    // Compile both before replacing either, so a bad entry changes nothing.
    const allow = rules.allow === undefined ? this.#allow : compileAddressList('allow', rules.allow);
    const deny = rules.deny === undefined ? this.#deny : compileAddressList('deny', rules.deny);
    this.#allow = allow;
    this.#deny = deny;
  }

  /** The lists in force. */
  get(): { allow: AddressList | null; deny: AddressList | null } {
    return { allow: this.#allow?.source ?? null, deny: this.#deny?.source ?? null };
  }

  /** Why `address` is refused, or undefined when it may connect. */
  check(address: string, family: 'IPv4' | 'IPv6'): AccessRefusal | undefined {
    if (this.#allow === undefined && this.#deny === undefined) return undefined;
    const type = family === 'IPv6' ? 'ipv6' : 'ipv4';
    if (this.#deny?.blockList.check(address, type)) return AccessRefusal.DENIED;
    if (this.#allow && !this.#allow.blockList.check(address, type)) return AccessRefusal.NOT_ALLOWED;
    return undefined;
  }
}

/**
 * Compiles a list into a BlockList; `null`, `undefined` and an empty array mean no list.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the option and the bad entry
 */
export function compileAddressList(name: string, list: AddressList | null | undefined): CompiledList | undefined {
  if (list === null || list === undefined) return undefined;
  if (list instanceof BlockList) return { source: list, blockList: list };
  if (!Array.isArray(list)) throw new InvalidOptionError(name, 'must be an array of addresses and CIDR prefixes, or a net.BlockList', list);
  if (list.length === 0) return undefined;
  const blockList = new BlockList();
  for (const entry of list) addEntry(blockList, name, entry);
  return { source: Object.freeze([...list]) as readonly string[], blockList };
}

function addEntry(blockList: BlockList, name: string, entry: unknown): void {
  if (typeof entry !== 'string') throw new InvalidOptionError(name, 'entries must be strings', entry);
  const slash = entry.indexOf('/');
  const address = (slash === -1 ? entry : entry.slice(0, slash)).trim();
  const version = isIP(address);
  if (version === 0) throw new InvalidOptionError(name, 'entries must be IP addresses or CIDR prefixes such as "10.0.0.0/8"', entry);
  const type = version === 6 ? 'ipv6' : 'ipv4';
  if (slash === -1) return blockList.addAddress(address, type);
  const text = entry.slice(slash + 1).trim();
  const prefix = Number(text);
  const max = version === 6 ? 128 : 32;
  if (!/^\d+$/.test(text) || prefix > max) throw new InvalidOptionError(name, `entries must have a prefix length from 0 to ${max}`, entry);
  blockList.addSubnet(address, prefix, type);
}
