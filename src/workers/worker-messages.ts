/**
 * What the primary and its workers say to each other over the IPC channel, and the settings a
 * worker starts with (JSON in its environment: a worker cannot receive a closure, so the
 * handler is a module it imports itself). Every message carries `swb` so that a user module's
 * own `process.send` traffic is never mistaken for ours.
 */
import type { Transport } from '../core/errors.ts';
import type { AddressFamily } from '../net/addresses.ts';
import type { BoundAddress } from '../net/listener-group.ts';
import type { TcpServerStats } from '../tcp/tcp-server.ts';
import type { UdpServerStats } from '../udp/udp-server.ts';
import type { TicketKeyState } from './ticket-keys.ts';
import type { WorkerTlsFiles } from './worker-tls.ts';

/** The environment variable holding a worker's {@link WorkerSettings}. @internal */
export const WORKER_ENV = 'SWITCHBOARD_WORKER';

/** JSON-safe server options (numbers, strings, booleans, arrays and plain objects of those). @internal */
export type JsonOptions = Readonly<Record<string, unknown>>;

/**
 * Server options less what chooses an address (host, port, reusePort, ..., systemd): what a worker
 * keeps when the primary passed it the sockets to serve. @internal
 */
export function withoutAddress(options: JsonOptions): JsonOptions {
  const { host: _host, port: _port, ipv6Only: _ipv6Only, reusePort: _reusePort, exclusive: _exclusive, backlog: _backlog, perInterface: _perInterface, systemd: _systemd, ...rest } = options;
  return rest;
}

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
  /** The listening sockets the primary holds for this worker, by fd number in the worker (3, 4, ...): the TCP server adopts them instead of binding. */
  readonly tcpFds?: readonly number[];
  /** The same for the UDP server. */
  readonly udpFds?: readonly number[];
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

/** One listening socket an old process hands its successor at an upgrade. */
export interface HandoverSocket {
  /** The fd number in the successor: 3, 4, ... in the order of {@link UpgradeHandover.sockets}. */
  readonly fd: number;
  readonly transport: Transport;
  /** The bound address (`0.0.0.0`, `::`, `127.0.0.1`, ...) and port. */
  readonly address: string;
  readonly port: number;
  readonly family: AddressFamily;
  /** The worker it served in the old process: mode `reuseport` holds one socket per worker and address. */
  readonly slot: number;
  /** `systemd`: a socket the service manager passed, which every worker serves (one queue for all). */
  readonly origin?: 'systemd';
  /** The name the manager gave it (`FileDescriptorName=`), for `origin: 'systemd'`, when known. */
  readonly fdName?: string;
}

/**
 * Everything an old process hands its successor at an upgrade, in one message over the IPC
 * channel (never the environment: it may carry secrets). The socket fds themselves travel as
 * the successor's inherited fds, in the order of `sockets`. New state gets a field here.
 */
export interface UpgradeHandover {
  /** The format's version; a successor refuses one it does not know. */
  readonly version: 1;
  /** The old process's pid. */
  readonly pid: number;
  readonly sockets: readonly HandoverSocket[];
  /** The old process's counters when it started the successor (its totals so far: the successor's `stats()` continue from them). */
  readonly stats: WorkerStats;
  /** The TLS session-ticket keys the old workers used: tickets they issued resume on the new ones. */
  readonly ticketKeys?: TicketKeyState;
}

/** The old process -> its successor. @internal */
export type PredecessorMessage =
  | { readonly swb: 'upgrade-handover'; readonly handover: UpgradeHandover }
  /** The old process's final counters, sent once it has drained (they replace `handover.stats`). */
  | { readonly swb: 'upgrade-final'; readonly stats: WorkerStats };

/** The successor -> the old process. @internal */
export type SuccessorMessage = { readonly swb: 'upgrade-ready'; readonly pid: number } | { readonly swb: 'upgrade-failed'; readonly message: string };

/** Worker -> primary. @internal */
export type WorkerMessage =
  | { readonly swb: 'ready'; readonly addresses: readonly BoundAddress[] }
  | { readonly swb: 'failed'; readonly message: string; readonly code?: string }
  | { readonly swb: 'tls-reloaded'; readonly id: number; readonly error?: string }
  /** One of its UDP sockets (the IPC message's handle), for an upgrade: see `udp-sockets`. `index`: its order among them, which `udp-relay` names. */
  | { readonly swb: 'udp-socket'; readonly index: number; readonly address: string; readonly port: number; readonly family: AddressFamily }
  /** Relayed datagrams it could not serve (its server no longer receives on that socket). */
  | { readonly swb: 'udp-relay-lost'; readonly count: number }
  /** Every UDP socket was sent. */
  | { readonly swb: 'udp-sockets-done'; readonly count: number }
  /** `id` 0: the final ledger a worker sends as it exits after a close. */
  | { readonly swb: 'stats'; readonly id: number; readonly stats: WorkerStats };

/** Primary -> worker. @internal */
export type PrimaryMessage =
  | { readonly swb: 'stats'; readonly id: number }
  | { readonly swb: 'close'; readonly timeout: number }
  | { readonly swb: 'ticket-keys'; readonly keys: TicketKeyState }
  | { readonly swb: 'reload-tls'; readonly id: number }
  /** Send each UDP socket you bound yourself (a `udp-socket` message apiece), then `udp-sockets-done`. */
  | { readonly swb: 'udp-sockets' }
  /**
   * A datagram the primary read from the worker's UDP socket number `socket` (see `udp-socket`)
   * while it held a copy: serve it there, as if read there. `data` in base64; `address`, `port`
   * and `family` are the sender's, as the kernel gave them.
   */
  | { readonly swb: 'udp-relay'; readonly socket: number; readonly data: string; readonly address: string; readonly port: number; readonly family: AddressFamily };

/** Whether `value` is one of our messages (and not the user module's). @internal */
export function isSwitchboardMessage(value: unknown): value is { readonly swb: string } {
  return typeof value === 'object' && value !== null && typeof (value as { swb?: unknown }).swb === 'string';
}
