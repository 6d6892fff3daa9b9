/**
 * The command's defaults, chosen to be safe on the Internet: every session has an idle timeout,
 * and every server caps its clients in total and per remote address.
 */

/** `--drain-timeout`: how long a graceful close waits for sessions. */
export const DEFAULT_DRAIN_TIMEOUT = 10_000;

/** Idle timeout and client caps of one command. */
export interface ServerDefaults {
  readonly idleTimeout: number;
  readonly maxClients: number;
  readonly maxPerIp: number;
}

/** `serve`: the classic services need seconds, not minutes; caps apply per service. */
export const SERVE_DEFAULTS: ServerDefaults = { idleTimeout: 60_000, maxClients: 256, maxPerIp: 16 };

/** `exec`: one process per connection is costly; 40 is tcpserver's own `-c` default. */
export const EXEC_DEFAULTS: ServerDefaults = { idleTimeout: 300_000, maxClients: 40, maxPerIp: 10 };

/** `run`: the library's idle timeout, and caps a small server can afford. */
export const RUN_DEFAULTS: ServerDefaults = { idleTimeout: 300_000, maxClients: 1000, maxPerIp: 64 };

/** `serve`'s UDP limits that flags may change (0 = no limit); each UDP server (one per service) has its own. */
export interface UdpLimits {
  /** `--udp-rate`: datagrams per second one source (an IPv6 /64) may send. */
  readonly datagramsPerSecond: number;
  /** `--udp-reply-rate`: reply bytes per second on the wire, all sources together. */
  readonly replyBytesPerSecond: number;
}

/**
 * `serve` over UDP: 50 datagrams a second is far more than anyone asks a classic service, and
 * 64 KiB/s of replies per service (~ 640 chargen lines a second, 384 KiB/s for all six) answers
 * every real client while a flood from forged sources draws no more than that.
 */
export const SERVE_UDP_DEFAULTS: UdpLimits = { datagramsPerSecond: 50, replyBytesPerSecond: 64 * 1024 };
