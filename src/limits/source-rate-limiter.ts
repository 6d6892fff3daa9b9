/**
 * UDP rate limits on a coarse clock -- per source for datagrams/s and bytes/s received, and one
 * server-wide for reply bytes/s sent -- made of {@link TokenBucket}s. The clock is a tick counter
 * the server advances every {@link RATE_TICK_MS}, so admitting a datagram reads no time and
 * allocates nothing for a known source. Memory is bounded: at most `maxSources` sources with
 * buckets of their own, idle ones forgotten after a second (a bucket idle that long is full, so
 * forgetting it loses nothing), and sources beyond the cap share one overflow pair of buckets.
 */
import { addressKey } from '../net/ip-address.ts';
import { TokenBucket } from './token-bucket.ts';

/** How often the owner calls {@link SourceRateLimiter.tick}, in ms. */
export const RATE_TICK_MS = 100;
const TICKS_PER_SECOND = 1000 / RATE_TICK_MS;

/** Rates per source; 0 in one dimension means no limit there. */
export interface RateLimits {
  readonly datagrams: number;
  readonly bytes: number;
  readonly maxSources: number;
}

/** One source's buckets; an unlimited dimension shares {@link UNLIMITED}. */
interface SourceBuckets {
  readonly datagrams: TokenBucket;
  readonly bytes: TokenBucket;
}

/** A bucket of rate 0 admits everything and never changes, so every source may share it. */
const UNLIMITED = new TokenBucket(() => 0);

/**
 * Token buckets keyed by source. Each holds one second of each rate (the burst) and refills
 * continuously at the rate, in steps of one tick.
 * @example
 * const limiter = new SourceRateLimiter({ datagrams: 100, bytes: 65536, maxSources: 10000 });
 * if (!limiter.admit(sourceKey(address, family), datagram.length)) drop();
 */
export class SourceRateLimiter {
  readonly #limits: RateLimits;
  readonly #clock = (): number => this.#now;
  #now = 0;
  #current = new Map<string, SourceBuckets>();
  #previous = new Map<string, SourceBuckets>();
  readonly #overflow: SourceBuckets;

  constructor(limits: RateLimits) {
    this.#limits = limits;
    this.#overflow = this.#fullBuckets();
  }

  /** Sources with buckets of their own. */
  get sources(): number {
    return this.#current.size + this.#previous.size;
  }

  /** Takes one datagram of `size` bytes from `source`'s buckets; false (nothing taken) when either cannot pay. */
  admit(source: string, size: number): boolean {
    const buckets = this.#current.get(source) ?? this.#adopt(source);
    if (!buckets.datagrams.has(1) || !buckets.bytes.take(size)) return false;
    return buckets.datagrams.take(1);
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

  #adopt(source: string): SourceBuckets {
    let buckets = this.#previous.get(source);
    if (buckets !== undefined) this.#previous.delete(source);
    else if (this.sources >= this.#limits.maxSources) return this.#overflow;
    else buckets = this.#fullBuckets();
    this.#current.set(source, buckets);
    return buckets;
  }

  #fullBuckets(): SourceBuckets {
    const { datagrams, bytes } = this.#limits;
    // A rate below one datagram per second still lets one datagram through now and then.
    return { datagrams: this.#bucket(datagrams, Math.max(1, datagrams)), bytes: this.#bucket(bytes, bytes) };
  }

  #bucket(rate: number, capacity: number): TokenBucket {
    if (rate === 0) return UNLIMITED;
    const bucket = new TokenBucket(this.#clock, TICKS_PER_SECOND);
    bucket.configure(rate, capacity);
    return bucket;
  }
}

/**
 * One server-wide token bucket of reply bytes per second. It holds one second's worth (the burst)
 * and refills at the rate, in steps of one tick. A reply may be sent while the bucket is not
 * empty, and may take it below zero: any reply size passes at every rate, and the debt is repaid
 * before the next, so over any time `t` at most `rate x (t + 1 s)` plus one reply is sent.
 * @example
 * const budget = new ReplyRateLimiter(1 << 20);
 * if (!budget.take(payload.byteLength + 28)) drop();
 */
export class ReplyRateLimiter {
  #now = 0;
  readonly #bucket = new TokenBucket(() => this.#now, TICKS_PER_SECOND);

  /** @param bytesPerSecond greater than 0 */
  constructor(bytesPerSecond: number) {
    this.#bucket.configure(bytesPerSecond, bytesPerSecond);
  }

  /** Spends `bytes` if the bucket is not empty; false (nothing spent) when it is. */
  take(bytes: number): boolean {
    return this.#bucket.borrow(bytes);
  }

  /** Advances the clock by one tick ({@link RATE_TICK_MS}). */
  tick(): void {
    this.#now++;
  }
}

/**
 * The rate-limit key of a source: the IPv4 address itself, or the /64 prefix of an IPv6
 * address, zone dropped (one subscriber usually holds a whole /64, so per-address keys would let
 * one host fill the table). Expects an unmapped address as the kernel writes it.
 * @example
 * sourceKey('2001:db8:1:2::7', 'IPv6'); // '2001:db8:1:2::/64'
 */
export function sourceKey(address: string, family: 'IPv4' | 'IPv6'): string {
  if (family === 'IPv4') return address;
  const zoneAt = address.indexOf('%');
  return addressKey(zoneAt === -1 ? address : address.slice(0, zoneAt), 64);
}
