/**
 * The datagrams a primary reads while it holds a worker's UDP socket, relayed back to that
 * worker instead of lost. Node reads every dgram socket it is handed (there is no dgram
 * counterpart of `net.BoundSocket`), so between the first upgrade's collection of the workers'
 * own UDP sockets and the successor's spawn the primary reads some of their datagrams. Each goes
 * over IPC to the worker that owns the socket, which is still serving: its UdpServer serves it
 * on that same socket (`UdpServer.receiveRelayed`), so the limits, the counters and the reply's
 * source address are the ones a datagram read there would have had. Bounded: past
 * `maxDatagrams` or `maxBytes` waiting to be written to the channels, a datagram is lost, counted.
 */
import type { ChildProcess } from 'node:child_process';
import type { RemoteInfo } from 'node:dgram';
import { InvalidOptionError } from '../core/errors.ts';
import type { PrimaryMessage } from './worker-messages.ts';

/** The bound on what a primary relays at once (datagrams handed to IPC and not written yet). */
export interface UdpRelayLimits {
  /** Datagrams in flight; 0 relays none (each one read is lost). @default 1024 */
  readonly maxDatagrams?: number;
  /** Payload bytes in flight. @default 1_048_576 (1 MiB) */
  readonly maxBytes?: number;
}

/** The datagrams a primary read from the workers' UDP sockets while an upgrade collected them. */
export interface UdpTransit {
  /** Read by the primary: `relayed + lost`. */
  readonly read: number;
  /** Handed back to the worker that owns the socket, which served it there. */
  readonly relayed: number;
  /** Not served: over the relay's limits, the worker gone, or its server no longer receiving. */
  readonly lost: number;
}

const DEFAULT_LIMITS: Required<UdpRelayLimits> = { maxDatagrams: 1024, maxBytes: 1 << 20 };

/**
 * The limits with defaults applied.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a limit that is not a non-negative integer
 */
export function normalizeUdpRelayLimits(limits: UdpRelayLimits | undefined): Required<UdpRelayLimits> {
  const merged = { ...DEFAULT_LIMITS, ...limits };
  for (const name of ['maxDatagrams', 'maxBytes'] as const) {
    const value = merged[name];
    if (!Number.isSafeInteger(value) || value < 0) throw new InvalidOptionError(`udpRelay.${name}`, 'must be a non-negative integer', value);
  }
  return merged;
}

/** Relays what a primary reads from its workers' UDP sockets to their owners, bounded and counted. @internal */
export class DatagramRelay {
  readonly #limits: Required<UdpRelayLimits>;
  #inFlight = 0;
  #bytes = 0;
  #relayed = 0;
  #lost = 0;

  constructor(limits: Required<UdpRelayLimits>) {
    this.#limits = limits;
  }

  /** The counts so far (they settle once the last relayed datagram is written). */
  get transit(): UdpTransit {
    return { read: this.#relayed + this.#lost, relayed: this.#relayed, lost: this.#lost };
  }

  /** One datagram read from `worker`'s UDP socket number `socket` (its order in the worker's `udp-socket` messages). */
  relay(worker: ChildProcess, socket: number, data: Buffer, remote: RemoteInfo): void {
    const size = data.length;
    if (!worker.connected || this.#inFlight >= this.#limits.maxDatagrams || this.#bytes + size > this.#limits.maxBytes) {
      this.#lost++;
      return;
    }
    this.#inFlight++;
    this.#bytes += size;
    this.#relayed++;
    const message: PrimaryMessage = { swb: 'udp-relay', socket, data: data.toString('base64'), address: remote.address, port: remote.port, family: remote.family };
    const written = (error: Error | null): void => {
      this.#inFlight--;
      this.#bytes -= size;
      if (error !== null) this.notServed(1);
    };
    try {
      worker.send(message, written);
    } catch (error) {
      written(error as Error);
    }
  }

  /** Datagrams relayed that were not served after all (the worker says so, or the write failed). */
  notServed(count: number): void {
    const moved = Math.min(count, this.#relayed);
    this.#relayed -= moved;
    this.#lost += moved;
  }
}
