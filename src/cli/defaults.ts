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
