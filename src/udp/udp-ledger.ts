/**
 * The counters of a UDP server and its drop report: every datagram in or out is counted once,
 * every drop is counted by reason, and drops are summarised at most once per interval so a
 * flood cannot flood the logs too.
 */

/** Why a datagram, or a reply, was not delivered. */
export const DropReason = {
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
  /** A reply the kernel refused (EMSGSIZE, no route, …). */
  SEND_FAILED: 'send-failed',
  /** A reply asked for after its socket closed, or cancelled by the close. */
  CLOSED: 'closed',
} as const;
/** One of the {@link DropReason} values. */
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** Counts by drop reason. */
export type DropCounts = Record<DropReason, number>;

/** The `drop` event's argument: what was dropped since the previous summary. */
export interface UdpDropSummary {
  /** Drops in this summary. */
  readonly total: number;
  /** Non-zero counts by reason. */
  readonly reasons: Readonly<Partial<DropCounts>>;
  /** How long the summary covers, in ms (from its first drop). */
  readonly durationMs: number;
}

/** Zeroed counts for every reason. */
export function zeroDropCounts(): DropCounts {
  return {
    'too-large': 0,
    'rate-limit': 0,
    'queue-full': 0,
    'max-in-flight': 0,
    unread: 0,
    'handler-failed': 0,
    amplification: 0,
    'reply-rate-limit': 0,
    'send-failed': 0,
    closed: 0,
  };
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
  drop(reason: DropReason): void {
    this.dropped[reason]++;
    if (!this.#reporting) return;
    this.#pending[reason]++;
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
    const reasons: Partial<DropCounts> = {};
    for (const [reason, count] of Object.entries(this.#pending) as [DropReason, number][]) if (count > 0) reasons[reason] = count;
    const summary: UdpDropSummary = { total: this.#pendingTotal, reasons, durationMs: Math.round(performance.now() - this.#pendingSince) };
    this.#pending = zeroDropCounts();
    this.#pendingTotal = 0;
    this.#report(summary);
  }
}
