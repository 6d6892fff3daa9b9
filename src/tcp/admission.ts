/**
 * Admission control for one server: who may connect (allow/deny, suspend) and how many
 * (total, per address, per second). Decisions are O(1) and allocation-free for IPv4 peers.
 */
import type { ConnectionInfo } from './connection-info.ts';
import { AccessRules, type AccessRuleSet, type AddressList } from '../limits/access-rules.ts';
import { addressKey } from '../net/ip-address.ts';
import { normalizeThrottleLimits, type NormalizedLimitOptions, type NormalizedThrottleLimits, type ThrottleLimits } from './limit-options.ts';
import { RejectCause, isBusyCause } from './reject-reason.ts';
import { TokenBucket } from '../limits/token-bucket.ts';

/** The admission state of one server. @internal */
export class Admission {
  #limits: NormalizedThrottleLimits;
  readonly #ipv6Prefix: number;
  readonly #busyMessage: Buffer | undefined;
  readonly #rules = new AccessRules();
  readonly #bucket = new TokenBucket();
  // Counted for every session even while the limit is 0, so a limit set later sees the truth.
  readonly #perAddress = new Map<string, number>();
  #suspended = false;

  constructor(options: NormalizedLimitOptions) {
    this.#limits = options.throttle;
    this.#ipv6Prefix = options.perAddressIPv6Prefix;
    this.#busyMessage = options.busyMessage;
    this.#rules.set({ allow: options.allow ?? null, deny: options.deny ?? null });
    this.#configureBucket();
  }

  get suspended(): boolean {
    return this.#suspended;
  }

  set suspended(value: boolean) {
    this.#suspended = value;
  }

  /** Changes the limits given; returns every limit now in force. Lowering a limit evicts no one. */
  throttle(input: ThrottleLimits | undefined): Required<ThrottleLimits> {
    if (input !== undefined) {
      this.#limits = normalizeThrottleLimits(input, this.#limits);
      this.#configureBucket();
    }
    return { ...this.#limits };
  }

  setAccessRules(rules: AccessRuleSet): { allow: AddressList | null; deny: AddressList | null } {
    this.#rules.set(rules);
    return this.#rules.get();
  }

  get accessRules(): { allow: AddressList | null; deny: AddressList | null } {
    return this.#rules.get();
  }

  /**
   * The address lists, then suspension: checked as a connection arrives, and again as it leaves
   * the pending stage (so `suspend()` or a new rule refuses connections still pending).
   */
  screen(info: ConnectionInfo): RejectCause | undefined {
    const refused = this.#rules.check(info.remoteAddress, info.remoteFamily);
    if (refused !== undefined) return refused;
    if (this.#suspended) return RejectCause.SUSPENDED;
    return undefined;
  }

  /**
   * The counts, then the rate (so a connection refused for a count spends no token), as a
   * connection enters the pending stage. `occupied` is the open sessions plus the connections
   * still pending: each holds its slot from here on. On success the peer is counted until
   * {@link released}.
   */
  admit(info: ConnectionInfo, occupied: number): RejectCause | undefined {
    const limits = this.#limits;
    if (limits.maxConnections > 0 && occupied >= limits.maxConnections) return RejectCause.MAX_CONNECTIONS;
    const key = addressKey(info.remoteAddress, this.#ipv6Prefix);
    const count = this.#perAddress.get(key) ?? 0;
    if (limits.maxConnectionsPerAddress > 0 && count >= limits.maxConnectionsPerAddress) return RejectCause.MAX_CONNECTIONS_PER_ADDRESS;
    if (!this.#bucket.take()) return RejectCause.ACCEPT_RATE;
    this.#perAddress.set(key, count + 1);
    return undefined;
  }

  /**
   * A connection from a trusted balancer, as it arrives: suspension, the total and the rate apply
   * now; the lists and the per-address count wait for the client its PROXY header names ({@link admitAddress}).
   */
  admitRelayed(occupied: number): RejectCause | undefined {
    if (this.#suspended) return RejectCause.SUSPENDED;
    const limits = this.#limits;
    if (limits.maxConnections > 0 && occupied >= limits.maxConnections) return RejectCause.MAX_CONNECTIONS;
    if (!this.#bucket.take()) return RejectCause.ACCEPT_RATE;
    return undefined;
  }

  /** The per-address count for a client named after the accept; on success it is counted until {@link released}. */
  admitAddress(info: ConnectionInfo): RejectCause | undefined {
    const key = addressKey(info.remoteAddress, this.#ipv6Prefix);
    const count = this.#perAddress.get(key) ?? 0;
    const limit = this.#limits.maxConnectionsPerAddress;
    if (limit > 0 && count >= limit) return RejectCause.MAX_CONNECTIONS_PER_ADDRESS;
    this.#perAddress.set(key, count + 1);
    return undefined;
  }

  /** A connection admitted from `remoteAddress` closed, or was refused while pending. */
  released(remoteAddress: string): void {
    const key = addressKey(remoteAddress, this.#ipv6Prefix);
    const count = this.#perAddress.get(key) ?? 0;
    if (count <= 1) this.#perAddress.delete(key);
    else this.#perAddress.set(key, count - 1);
  }

  /** Sessions open from the address (or prefix) `remoteAddress` counts under. */
  openFrom(remoteAddress: string): number {
    return this.#perAddress.get(addressKey(remoteAddress, this.#ipv6Prefix)) ?? 0;
  }

  /** What to send a peer refused for `reason`, if anything. */
  busyMessageFor(reason: RejectCause): Buffer | undefined {
    return this.#busyMessage !== undefined && isBusyCause(reason) ? this.#busyMessage : undefined;
  }

  #configureBucket(): void {
    const { acceptRate, acceptBurst } = this.#limits;
    this.#bucket.configure(acceptRate, acceptBurst > 0 ? acceptBurst : Math.max(1, Math.ceil(acceptRate)));
  }
}
