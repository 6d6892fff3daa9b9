/**
 * The counters of a UDP server and its drop report: every datagram in or out is counted once,
 * every drop is counted by cause, and drops are summarised at most once per interval so a
 * flood cannot flood the logs too.
 */
import { zeroCounts } from '../server/cause-counts.ts';

/**
 * Why a datagram, or a reply, was not delivered: the same shape as `CloseCause` and
 * `RejectCause` (a const object of kebab-case causes and a union type of them). Drops are
 * reported in aggregate -- counts by cause in `stats().dropped` and the `drop` event -- so a flood
 * costs no event per datagram.
 */
export const DropCause = {
  /** Received but larger than `maxDatagramSize`; never delivered. */
  TOO_LARGE: 'too-large',
  /** Received over its source's rate limit; never delivered. */
  RATE_LIMIT: 'rate-limit',
  /** Async style: received while `maxQueuedDatagrams` were waiting; never delivered. */
  QUEUE_FULL: 'queue-full',
  /** Event style: received while `maxInFlight` handler promises were pending; never delivered. */
  MAX_IN_FLIGHT: 'max-in-flight',
  /** Async style: still queued when the server closed. */
  UNREAD: 'unread',
  /** Delivered, and the handler threw or rejected. */
  HANDLER_FAILED: 'handler-failed',
  /** A reply refused by the amplification limit. */
  AMPLIFICATION: 'amplification',
  /** A reply refused because the server-wide `replyRateLimit` was spent. */
  REPLY_RATE_LIMIT: 'reply-rate-limit',
  /** A reply the kernel refused (EMSGSIZE, no route, ...). */
  SEND_FAILED: 'send-failed',
  /** A reply asked for after its socket closed, or cancelled by the close. */
  CLOSED: 'closed',
  /** `proxyProtocol`: received from a source outside `proxyProtocol.from` (with `untrusted: 'refuse'`); never delivered. */
  PROXY_UNTRUSTED: 'proxy-untrusted',
  /** `proxyProtocol`: received from a trusted source without a valid v2 DGRAM header; never delivered. */
  PROXY_HEADER: 'proxy-header',
} as const;
/** One of the {@link DropCause} values. */
export type DropCause = (typeof DropCause)[keyof typeof DropCause];

/** Counts by drop cause. */
export type DropCounts = Record<DropCause, number>;

/** The `drop` event's argument: what was dropped since the previous summary. */
export interface UdpDropSummary {
  /** Drops in this summary. */
  readonly total: number;
  /** Non-zero counts by cause. */
  readonly causes: Readonly<Partial<DropCounts>>;
  /** How long the summary covers, in ms (from its first drop). */
  readonly durationMs: number;
}

/** Zeroed counts for every cause. */
export function zeroDropCounts(): DropCounts {
  return zeroCounts(DropCause);
}

/** The mutable counters shared by a server's sockets. @internal */
export class UdpLedger {
  datagramsIn = 0;
  bytesIn = 0;
  /** Datagrams handed to the handler or queued for the iterator. */
  accepted = 0;
  datagramsOut = 0;
  bytesOut = 0;
  readonly dropped: DropCounts = zeroDropCounts();
  #pending: DropCounts = zeroDropCounts();
  #pendingTotal = 0;
  #pendingSince = 0;
  #timer: NodeJS.Timeout | undefined;
  #reporting = true;
  readonly #interval: number;
  readonly #report: (summary: UdpDropSummary) => void;

  constructor(interval: number, report: (summary: UdpDropSummary) => void) {
    this.#interval = interval;
    this.#report = report;
  }

  /** Counts a drop; the first drop of a quiet period starts the interval its summary waits for. */
  drop(cause: DropCause): void {
    this.dropped[cause]++;
    if (!this.#reporting) return;
    this.#pending[cause]++;
    if (this.#pendingTotal++ !== 0) return;
    this.#pendingSince = performance.now();
    this.#timer = setTimeout(() => this.flush(), this.#interval);
  }

  /** Reports what is pending now; later drops are counted but no longer reported (the server has closed). */
  close(): void {
    this.flush();
    this.#reporting = false;
  }

  /** Reports the pending drops now, if any. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pendingTotal === 0) return;
    const causes: Partial<DropCounts> = {};
    for (const [cause, count] of Object.entries(this.#pending) as [DropCause, number][]) if (count > 0) causes[cause] = count;
    const summary: UdpDropSummary = { total: this.#pendingTotal, causes, durationMs: Math.round(performance.now() - this.#pendingSince) };
    this.#pending = zeroDropCounts();
    this.#pendingTotal = 0;
    this.#report(summary);
  }
}
