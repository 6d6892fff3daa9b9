/**
 * Token buckets on a coarse clock — per source for datagrams/s and bytes/s received, and one
 * server-wide for reply bytes/s sent. The clock is a tick
 * counter the server advances every {@link RATE_TICK_MS}, so admitting a datagram reads no time
 * and allocates nothing for a known source. Memory is bounded: at most `maxSources` buckets,
 * idle ones forgotten after a second (a bucket idle that long is full, so forgetting it loses
 * nothing), and sources beyond the cap share one overflow bucket.
 */

/** How often the owner calls {@link SourceRateLimiter.tick}, in ms. */
export const RATE_TICK_MS = 100;
const TICKS_PER_SECOND = 1000 / RATE_TICK_MS;

/** Rates per source; 0 in one dimension means no limit there. */
export interface RateLimits {
  readonly datagrams: number;
  readonly bytes: number;
  readonly maxSources: number;
}

interface Bucket {
  datagrams: number;
  bytes: number;
  /** The tick at which the bucket was last refilled. */
  stamp: number;
}

/**
 * Token buckets keyed by source. Each holds one second of each rate (the burst) and refills
 * continuously at the rate, in steps of one tick.
 * @example
 * const limiter = new SourceRateLimiter({ datagrams: 100, bytes: 65536, maxSources: 10000 });
 * if (!limiter.admit(sourceKey(address, family), datagram.length)) drop();
 */
export class SourceRateLimiter {
  readonly #datagramCap: number;
  readonly #byteCap: number;
  readonly #datagramsPerTick: number;
  readonly #bytesPerTick: number;
  readonly #maxSources: number;
  #now = 0;
  #current = new Map<string, Bucket>();
  #previous = new Map<string, Bucket>();
  readonly #overflow: Bucket;

  constructor(limits: RateLimits) {
    // A rate below one datagram per second still lets one datagram through now and then.
    this.#datagramCap = limits.datagrams > 0 ? Math.max(1, limits.datagrams) : Infinity;
    this.#byteCap = limits.bytes > 0 ? limits.bytes : Infinity;
    this.#datagramsPerTick = limits.datagrams / TICKS_PER_SECOND;
    this.#bytesPerTick = limits.bytes / TICKS_PER_SECOND;
    this.#maxSources = limits.maxSources;
    this.#overflow = this.#fullBucket();
  }

  /** Sources with a bucket of their own. */
  get sources(): number {
    return this.#current.size + this.#previous.size;
  }

  /** Takes one datagram of `size` bytes from `source`'s bucket; false when the bucket cannot pay. */
  admit(source: string, size: number): boolean {
    const bucket = this.#current.get(source) ?? this.#adopt(source);
    const elapsed = this.#now - bucket.stamp;
    if (elapsed !== 0) {
      bucket.stamp = this.#now;
      bucket.datagrams = Math.min(this.#datagramCap, bucket.datagrams + elapsed * this.#datagramsPerTick);
      bucket.bytes = Math.min(this.#byteCap, bucket.bytes + elapsed * this.#bytesPerTick);
    }
    if (bucket.datagrams < 1 || bucket.bytes < size) return false;
    bucket.datagrams -= 1;
    bucket.bytes -= size;
    return true;
  }

  /** Advances the clock by one tick ({@link RATE_TICK_MS}); once a second, forgets buckets idle for a second. */
  tick(): void {
    this.#now++;
    if (this.#now % TICKS_PER_SECOND !== 0) return;
    // Buckets untouched for a whole generation are full: dropping them changes nothing.
    this.#previous = this.#current;
    this.#current = new Map();
  }

  /** Forgets every source. */
  clear(): void {
    this.#current.clear();
    this.#previous.clear();
  }

  #adopt(source: string): Bucket {
    let bucket = this.#previous.get(source);
    if (bucket !== undefined) this.#previous.delete(source);
    else if (this.sources >= this.#maxSources) return this.#overflow;
    else bucket = this.#fullBucket();
    this.#current.set(source, bucket);
    return bucket;
  }

  #fullBucket(): Bucket {
    return { datagrams: this.#datagramCap, bytes: this.#byteCap, stamp: this.#now };
  }
}

/**
 * One server-wide token bucket of reply bytes per second. It holds one second's worth (the burst)
 * and refills at the rate once per tick. A reply may be sent while the bucket is not empty, and
 * may take it below zero: any reply size passes at every rate, and the debt is repaid before the
 * next, so over any time `t` at most `rate × (t + 1 s)` plus one reply is sent.
 * @example
 * const budget = new ReplyRateLimiter(1 << 20);
 * if (!budget.take(payload.byteLength + 28)) drop();
 */
export class ReplyRateLimiter {
  readonly #capacity: number;
  readonly #perTick: number;
  #tokens: number;

  /** @param bytesPerSecond greater than 0 */
  constructor(bytesPerSecond: number) {
    this.#capacity = bytesPerSecond;
    this.#perTick = bytesPerSecond / TICKS_PER_SECOND;
    this.#tokens = bytesPerSecond;
  }

  /** Spends `bytes` if the bucket is not empty; false (nothing spent) when it is. */
  take(bytes: number): boolean {
    if (this.#tokens <= 0) return false;
    this.#tokens -= bytes;
    return true;
  }

  /** Refills one tick's worth ({@link RATE_TICK_MS}), up to one second's. */
  tick(): void {
    this.#tokens = Math.min(this.#capacity, this.#tokens + this.#perTick);
  }
}

/**
 * The rate-limit key of a source: the IPv4 address itself, or the /64 prefix of an IPv6
 * address (one subscriber usually holds a whole /64, so per-address keys would let one host
 * fill the table). Expects an unmapped address as the kernel writes it.
 * @example
 * sourceKey('2001:db8:1:2::7', 'IPv6'); // '2001:db8:1:2::/64'
 */
export function sourceKey(address: string, family: 'IPv4' | 'IPv6'): string {
  return family === 'IPv4' ? address : ipv6Prefix64(address);
}

function ipv6Prefix64(address: string): string {
  const zoneAt = address.indexOf('%');
  const bare = zoneAt === -1 ? address : address.slice(0, zoneAt);
  const gap = bare.indexOf('::');
  let groups: string[];
  if (gap === -1) {
    groups = bare.split(':');
  } else {
    const head = gap === 0 ? [] : bare.slice(0, gap).split(':');
    const tail = gap + 2 === bare.length ? [] : bare.slice(gap + 2).split(':');
    // An embedded IPv4 tail (`::1.2.3.4`) stands for two groups.
    const tailGroups = tail.length + (tail.at(-1)?.includes('.') ? 1 : 0);
    groups = [...head, ...new Array<string>(Math.max(0, 8 - head.length - tailGroups)).fill('0'), ...tail];
  }
  return `${groups.slice(0, 4).map(trimGroup).join(':')}::/64`;
}

function trimGroup(group: string): string {
  return group.replace(/^0+(?=.)/, '').toLowerCase();
}
