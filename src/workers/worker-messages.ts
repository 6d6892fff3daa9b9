/**
 * What the primary and its workers say to each other over the IPC channel, and the settings a
 * worker starts with (JSON in its environment: a worker cannot receive a closure, so the
 * handler is a module it imports itself). Every message carries `swb` so that a user module's
 * own `process.send` traffic is never mistaken for ours.
 */
import type { BoundAddress } from '../net/listener-group.ts';
import type { TcpServerStats } from '../tcp/tcp-server.ts';
import type { UdpServerStats } from '../udp/udp-server.ts';
import type { TicketKeyState } from './ticket-keys.ts';
import type { WorkerTlsFiles } from './worker-tls.ts';

/** The environment variable holding a worker's {@link WorkerSettings}. @internal */
export const WORKER_ENV = 'SWITCHBOARD_WORKER';

/** JSON-safe server options (numbers, strings, booleans, arrays and plain objects of those). @internal */
export type JsonOptions = Readonly<Record<string, unknown>>;

/** What a worker is told to serve. @internal */
export interface WorkerSettings {
  /** A file URL of the handler module. */
  readonly module: string;
  readonly slot: number;
  /** TCP server options laid over the module's `options` export; `null`: no TCP server. */
  readonly tcp: JsonOptions | null;
  /** UDP server options laid over the module's `udpOptions` export; `null`: no UDP server. */
  readonly udp: JsonOptions | null;
  /** Each worker binds its own SO_REUSEPORT socket (mode `reuseport`). */
  readonly reusePort: boolean;
  /** How long a worker whose primary vanished drains before it exits, ms. */
  readonly orphanDrainTimeout: number;
  /** The TLS files the TCP server reads (over the module's `tls`); absent: the module's own `tls`, if any. */
  readonly tlsFiles?: WorkerTlsFiles;
  /** The session-ticket keys the set shares (applied wherever the TCP server has TLS). */
  readonly ticketKeys?: TicketKeyState;
}

/** The counters one worker reports. */
export interface WorkerStats {
  readonly tcp?: TcpServerStats;
  readonly udp?: UdpServerStats;
}

/** Worker → primary. @internal */
export type WorkerMessage =
  | { readonly swb: 'ready'; readonly addresses: readonly BoundAddress[] }
  | { readonly swb: 'failed'; readonly message: string; readonly code?: string }
  | { readonly swb: 'stats'; readonly id: number; readonly stats: WorkerStats }
  | { readonly swb: 'tls-reloaded'; readonly id: number; readonly error?: string };

/** Primary → worker. @internal */
export type PrimaryMessage =
  | { readonly swb: 'stats'; readonly id: number }
  | { readonly swb: 'close'; readonly timeout: number }
  | { readonly swb: 'ticket-keys'; readonly keys: TicketKeyState }
  | { readonly swb: 'reload-tls'; readonly id: number };

/** Whether `value` is one of our messages (and not the user module's). @internal */
export function isSwitchboardMessage(value: unknown): value is { readonly swb: string } {
  return typeof value === 'object' && value !== null && typeof (value as { swb?: unknown }).swb === 'string';
}
