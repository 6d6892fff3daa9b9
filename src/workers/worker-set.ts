/**
 * `serveWorkers()`: one server's addresses served by N worker processes, supervised. The
 * primary starts the workers (through `cluster`, which both modes fork with), replaces one that
 * dies after an exponential back-off, stops a slot that crash-loops, sums their ledgers into one
 * view, and drains them all on `close()`. docs/workers.md says which mode to pick.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket as DatagramSocket } from 'node:dgram';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ErrorCode, InvalidOptionError, SwitchboardError } from '../core/errors.ts';
import { supportsReusePort } from '../core/platform.ts';
import type { HostSpec, ListenTarget } from '../net/addresses.ts';
import { bindGroup, resolveGroupTargets, type BoundAddress, type SocketBinder } from '../net/listener-group.ts';
import { normalizeSystemdOption, selectPassedSockets } from '../net/passed-sockets.ts';
import { openInetSockets } from '../net/proc-sockets.ts';
import { normalizeRespawnOptions, RespawnSchedule, type NormalizedRespawnOptions, type RespawnOptions } from './respawn-policy.ts';
import { addLedgers, retiredLedger } from './sum-stats.ts';
import { DatagramRelay, type UdpRelayLimits } from './udp-relay.ts';
import { DEFAULT_TICKET_KEY_ROTATION, TicketKeys, type TicketKeyState } from './ticket-keys.ts';
import type { WorkerTlsFiles } from './worker-tls.ts';
import {
  WORKER_ENV,
  isSwitchboardMessage,
  type HandoverSocket,
  type JsonOptions,
  type PredecessorMessage,
  type UpgradeHandover,
  type WorkerMessage,
  type WorkerSettings,
  type WorkerStats,
  withoutAddress,
} from './worker-messages.ts';
import { nodeChildProcess, nodeCluster, nodeDgram, nodeFs } from '../core/builtins.ts';

/**
 * How the workers share an address. `reuseport`: each worker binds its own SO_REUSEPORT socket
 * and the kernel spreads connections (and datagrams) by a hash of the 4-tuple -- Linux and
 * FreeBSD. `cluster`: Node's `cluster` primary holds one socket, accepts and hands each
 * connection round-robin to a worker -- everywhere, at a cost per connection in the primary.
 */
export type WorkerMode = 'reuseport' | 'cluster';

/** What {@link serveWorkers} serves, and how. */
export interface ServeWorkersOptions {
  /**
   * The handler module, a path or file URL. Its default export (or `handler`) is the TCP handler
   * and `options` the TCP server options; `udp` the UDP handler and `udpOptions` its options.
   */
  readonly module: string | URL;
  /** How many workers; `'auto'` is `os.availableParallelism()`. @default 'auto' */
  readonly workers?: number | 'auto';
  /** @default 'reuseport' where SO_REUSEPORT balances (`supportsReusePort()`), else 'cluster' */
  readonly mode?: WorkerMode;
  /** TCP server options (JSON-safe: host, port, limits, ...) laid over the module's `options`; `false`: no TCP server. @default {} */
  readonly tcp?: JsonOptions | false;
  /** UDP server options laid over the module's `udpOptions`; absent: no UDP server. */
  readonly udp?: JsonOptions;
  /** When dead workers are replaced, and when a slot gives up. */
  readonly respawn?: RespawnOptions;
  /** A worker not ready this long after it was started is killed (ms). @default 10_000 */
  readonly startTimeout?: number;
  /** How long a worker whose primary vanished drains its sessions before it exits (ms). @default 5_000 */
  readonly orphanDrainTimeout?: number;
  /** Environment variables the workers get on top of this process's. */
  readonly env?: Readonly<Record<string, string>>;
  /** How often the primary refreshes each worker's ledger, so a dead worker's last one is recent (ms). @default 1_000 */
  readonly statsInterval?: number;
  /** TLS on the TCP server from these files, which each worker reads (over the module's own `tls` options). */
  readonly tls?: WorkerTlsFiles;
  /** How often the session-ticket keys every worker shares are replaced (ms). @default 43_200_000 (12 h) */
  readonly ticketKeyRotation?: number;
  /** Ticket keys to start with (a predecessor's, handed over by an upgrade); kept until their rotation is due. */
  readonly ticketKeys?: TicketKeyState;
  /**
   * What an upgrade's predecessor handed over ({@link receiveHandover}): its listening sockets
   * for the addresses still configured are adopted instead of bound (mode `reuseport`), and the
   * counters continue from its totals.
   */
  readonly handover?: UpgradeHandover;
  /**
   * The set this one replaces in this process (a reload of `switchboard up`): the passed sockets
   * (the `systemd` option) it holds and this one serves too are the same fds, never reopened.
   * Once this set serves they are its own and `takeOver` lets go of them without closing them
   * (its `close()` then drains its workers only); should this set fail to start, they stay
   * `takeOver`'s, untouched.
   */
  readonly takeOver?: WorkerSet;
}

/** A listening socket the primary holds (mode `reuseport`): its own fd, never accepted on here. */
export interface HeldSocket {
  /** The fd in this process. */
  readonly fd: number;
  readonly transport: 'tcp' | 'udp';
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
  /** The worker slot that listens on it. */
  readonly slot: number;
  /** `systemd`: passed by the service manager (the `systemd` option); every worker listens on it. */
  readonly origin?: 'systemd';
  /** The name the manager gave a passed socket (`FileDescriptorName=`), when known. */
  readonly fdName?: string;
}

interface Held extends HeldSocket {
  /** Closes this process's copy. */
  readonly close: () => void;
}

/** One live worker. */
export interface WorkerInfo {
  readonly slot: number;
  readonly pid: number;
  /** ms since it was started. */
  readonly uptime: number;
}

/** A worker's ledger, by slot and pid. */
export interface WorkerStatsEntry extends WorkerInfo {
  readonly stats: WorkerStats;
}

/** The sum over every worker, the dead ones' last ledgers included. */
export interface WorkerSetStats extends WorkerStats {
  /** Workers serving now. */
  readonly workers: number;
  /** Workers started again after one died. */
  readonly respawns: number;
}

/** A respawn about to happen: the `respawn` event. */
export interface WorkerRespawn {
  readonly slot: number;
  /** The pid that exited. */
  readonly pid: number;
  readonly code: number | null;
  readonly signal: string | null;
  /** ms until the new worker starts. */
  readonly delay: number;
  /** Early exits of this slot in a row. */
  readonly earlyExits: number;
}

/** The events a {@link WorkerSet} emits. */
export interface WorkerSetEvents {
  respawn: [respawn: WorkerRespawn];
  /** A replacement worker is serving. */
  worker: [info: WorkerInfo];
  /** `SWB_ERR_WORKER_CRASH_LOOP` (a slot stopped) or `SWB_ERR_WORKER_START_FAILED` (a replacement did not start). Without a listener: a process warning. */
  error: [error: SwitchboardError];
}

interface Slot {
  readonly index: number;
  readonly schedule: RespawnSchedule;
  worker?: ChildProcess;
  /** Receives the worker's UDP sockets while an upgrade collects them, and what it could not serve of the datagrams relayed to it. */
  collect?: ((message: Extract<WorkerMessage, { swb: 'udp-socket' | 'udp-sockets-done' | 'udp-relay-lost' }>, handle: DatagramSocket | undefined) => void) | undefined;
  started: number;
  last?: WorkerStats;
  /** The last ledgers of the workers this slot had before, gauges zeroed. */
  retired: WorkerStats;
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

const WORKER_MAIN = fileURLToPath(new URL('./worker-main' + (import.meta.url.endsWith('.ts') ? '.ts' : '.js'), import.meta.url));

/**
 * Workers serving one set of addresses. Made by {@link serveWorkers}.
 */
export class WorkerSet extends EventEmitter<WorkerSetEvents> {
  /** The mode the workers share their addresses in. */
  readonly mode: WorkerMode;
  readonly #settings: Omit<WorkerSettings, 'slot' | 'ticketKeys'>;
  readonly #respawn: NormalizedRespawnOptions;
  readonly #startTimeout: number;
  readonly #env: Readonly<Record<string, string>>;
  readonly #slots: Slot[] = [];
  readonly #statsTimer: NodeJS.Timeout;
  #retired: WorkerStats = {};
  /** A predecessor's totals (an upgrade): the counters start from them. */
  #inherited: WorkerStats = {};
  readonly #handover: UpgradeHandover | undefined;
  #held: Held[] = [];
  readonly #takeOver: WorkerSet | undefined;
  /** Passed fds this set serves that {@link ServeWorkersOptions.takeOver} still owns (until this set serves). */
  readonly #borrowed = new Set<number>();
  readonly #onPredecessor = (message: unknown): void => {
    if (!isSwitchboardMessage(message)) return;
    const said = message as PredecessorMessage;
    if (said.swb === 'upgrade-final') this.#inherited = retiredTotals(said.stats);
  };
  #respawns = 0;
  #addresses: readonly BoundAddress[] = [];
  #closing: Promise<void> | undefined;
  #requestId = 0;
  readonly #replies = new Map<number, (reply: unknown) => void>();
  readonly #ticketKeys: TicketKeys;

  /** @internal use {@link serveWorkers} */
  constructor(
    settings: Omit<WorkerSettings, 'slot' | 'ticketKeys'>,
    count: number,
    mode: WorkerMode,
    respawn: NormalizedRespawnOptions,
    startTimeout: number,
    statsInterval: number,
    env: Readonly<Record<string, string>>,
    ticketKeys: TicketKeys,
    handover?: UpgradeHandover,
    takeOver?: WorkerSet,
  ) {
    super();
    this.#takeOver = takeOver;
    this.#ticketKeys = ticketKeys;
    this.#handover = handover;
    if (handover !== undefined) {
      this.#inherited = retiredTotals(handover.stats);
      process.on('message', this.#onPredecessor);
    }
    this.#env = env;
    this.mode = mode;
    this.#settings = settings;
    this.#respawn = respawn;
    this.#startTimeout = startTimeout;
    for (let index = 0; index < count; index++) this.#slots.push({ index, schedule: new RespawnSchedule(respawn), started: 0, stopped: false, retired: {} });
    this.#statsTimer = setInterval(() => void this.statsByWorker(), statsInterval).unref();
  }

  /** Where the workers listen (the first worker's addresses; every worker serves the same). */
  get addresses(): readonly BoundAddress[] {
    return this.#addresses;
  }

  /** The workers serving now. */
  workers(): WorkerInfo[] {
    const now = performance.now();
    return this.#slots.flatMap((slot) => (slot.worker?.pid === undefined ? [] : [{ slot: slot.index, pid: slot.worker.pid, uptime: now - slot.started }]));
  }

  /**
   * The listening sockets this primary holds (mode `reuseport`: one per worker and TCP address,
   * never accepted on here; a worker that dies leaves its socket, and its queue, to its
   * replacement). What an upgrade hands over.
   */
  heldSockets(): HeldSocket[] {
    const seen = new Set<number>();
    return this.#held.flatMap(({ fd, transport, address, port, family, slot, origin, fdName }) => {
      if (seen.has(fd)) return []; // a systemd socket, held once, served by every worker
      seen.add(fd);
      return [{ fd, transport, address, port, family, slot, ...(origin && { origin }), ...(fdName !== undefined && { fdName }) }];
    });
  }

  /** @internal starts every slot: the first alone (its bound ports are the others'), then the rest. */
  async start(): Promise<void> {
    try {
      if (this.mode === 'reuseport') await this.#holdSockets();
      const [first, ...rest] = this.#slots;
      if (first === undefined) return;
      this.#addresses = (await this.#spawn(first)).map((address) => this.#ownAddress(address, first.index));
      await Promise.all(rest.map((slot) => this.#spawn(slot)));
      // Serving: the passed sockets borrowed from the set this one replaces are ours now.
      if (this.#takeOver !== undefined) this.#takeOver.#letGo(this.#borrowed);
      this.#borrowed.clear();
    } catch (error) {
      await this.destroy();
      throw error;
    }
  }

  /**
   * Mode reuseport: binds (or takes over from the predecessor) one SO_REUSEPORT socket per
   * worker and TCP address, with net.BoundSocket: bound here, listened on and accepted from in
   * the worker only. Inherited sockets of the addresses still configured -- UDP ones too -- are
   * shared out over the slots (a smaller worker count gives a worker several); the rest are
   * closed here (the old process closes its copies as it retires). A slot with no inherited UDP
   * socket has its worker bind its own: Node offers no way to hold a bound UDP socket unread.
   */
  async #holdSockets(): Promise<void> {
    const taken = new Set<HandoverSocket>();
    if (this.#settings.tcp !== null) await this.#hold('tcp', this.#settings.tcp, taken);
    if (this.#settings.udp !== null) await this.#hold('udp', this.#settings.udp, taken);
    for (const socket of this.#handover?.sockets ?? []) if (!taken.has(socket)) nodeFs().closeSync(socket.fd);
  }

  async #hold(transport: 'tcp' | 'udp', options: JsonOptions, taken: Set<HandoverSocket>): Promise<void> {
    const inherited = (this.#handover?.sockets ?? []).filter((socket) => socket.transport === transport);
    if (options.systemd !== undefined) {
      // The service manager's sockets (inherited fds, unread here): every worker serves each.
      // A successor's environment names none: it takes the predecessor's.
      const fromPredecessor = inherited.filter((socket) => socket.origin === 'systemd');
      for (const socket of fromPredecessor) taken.add(socket);
      const sockets: { fd: number; address: string; port: number; family: 'IPv4' | 'IPv6'; fdName?: string | undefined }[] =
        fromPredecessor.length > 0
          ? fromPredecessor
          : selectPassedSockets(normalizeSystemdOption(options.systemd, false)!, transport).map((fd) => ({ fd: fd.fd, address: fd.address ?? '', port: fd.port ?? 0, family: fd.family === 'IPv6' ? ('IPv6' as const) : ('IPv4' as const), fdName: fd.name }));
      // A reload's new set serves the very fds the set it replaces holds: borrowed until this one serves.
      const previous = this.#takeOver;
      for (const { fd } of sockets) if (previous !== undefined && previous.#holdsPassed(fd)) this.#borrowed.add(fd);
      const close = (fd: number) => (): void => {
        if (!this.#borrowed.has(fd)) nodeFs().closeSync(fd);
      };
      for (const slot of this.#slots) {
        for (const { fd, address, port, family, fdName } of sockets) this.#held.push({ fd, transport, address, port, family, slot: slot.index, origin: 'systemd', ...(fdName !== undefined && { fdName }), close: close(fd) });
      }
      return;
    }
    if (transport === 'udp' && inherited.length === 0) return;
    const configured = typeof options.port === 'number' ? options.port : 0;
    const targets = await resolveGroupTargets(options.host as HostSpec, transport, { ipv6Only: options.ipv6Only as boolean | undefined, port: configured });
    const byTarget = targets.map((target) =>
      inherited.filter((socket) => socket.address === target.host && (configured === 0 || socket.port === configured)).sort((a, b) => a.slot - b.slot),
    );
    let port = configured === 0 ? (byTarget.flat()[0]?.port ?? 0) : configured;
    const count = this.#slots.length;
    for (const slot of this.#slots) {
      const missing: ListenTarget[] = [];
      targets.forEach((target, index) => {
        const mine = byTarget[index]!.filter((_, order) => order % count === slot.index);
        for (const socket of mine) {
          taken.add(socket);
          this.#held.push({ ...socket, slot: slot.index, close: () => nodeFs().closeSync(socket.fd) });
        }
        if (mine.length === 0) missing.push(target);
      });
      // UDP, and TCP before Node 24.21 (no net.BoundSocket): the worker binds its own.
      if (missing.length === 0 || transport === 'udp' || NetBoundSocket === undefined) continue;
      const bound = await bindGroup(missing, port, boundSocketBinder);
      for (const { handle, address } of bound) {
        port = address.port;
        this.#held.push({ fd: handle.fd(), transport: 'tcp', address: address.address, port: address.port, family: address.family, slot: slot.index, close: () => handle.close() });
      }
    }
  }

  /** Whether this set holds the passed socket `fd` (the `systemd` option's). */
  #holdsPassed(fd: number): boolean {
    return this.#held.some((held) => held.origin === 'systemd' && held.fd === fd);
  }

  /** The passed sockets `fds` are another set's now (it took this one over): forgotten here, not closed. */
  #letGo(fds: ReadonlySet<number>): void {
    this.#held = this.#held.filter((held) => held.origin !== 'systemd' || !fds.has(held.fd));
  }

  /** The sockets slot's worker gets as its fds 3, 4, ...: TCP first, then UDP. */
  #heldFor(slot: number): Held[] {
    return this.#held.filter((socket) => socket.slot === slot).sort((a, b) => (a.transport === b.transport ? 0 : a.transport === 'tcp' ? -1 : 1));
  }

  /**
   * An address as the set reports it: a socket the worker adopted from this primary (its fd
   * `3 + n`) is the set's own, or the service manager's (`origin: 'systemd'`, with this
   * process's fd and its name) for a passed socket the primary holds.
   */
  #ownAddress(address: BoundAddress, slot: number): BoundAddress {
    if (address.origin !== 'passed') return address;
    const { origin: _origin, fd, fdName: _fdName, ...own } = address;
    const held = fd === undefined ? undefined : this.#heldFor(slot)[fd - 3];
    if (held?.origin !== 'systemd') return own;
    return { ...own, origin: 'systemd', fd: held.fd, fdName: held.fdName ?? 'unknown' };
  }

  /**
   * For an upgrade: this process's copies of the UDP sockets the workers bound themselves (each
   * worker sends its own over IPC), as fds of this process, to pass to the successor. Node
   * reads every dgram socket it is handed, so until `release()` (call it right after the
   * successor is spawned) this process reads datagrams from them too: each is relayed to the
   * worker that owns the socket, which serves it there (`relay`, bounded by `limits`); `transit`
   * counts them, relayed and lost.
   * @internal
   */
  async collectUdpSockets(limits: Required<UdpRelayLimits>, timeout = 5_000): Promise<{ sockets: HeldSocket[]; release: () => void; relay: DatagramRelay }> {
    const relay = new DatagramRelay(limits);
    const received: { socket: DatagramSocket; slot: number; address: string; port: number; family: 'IPv4' | 'IPv6' }[] = [];
    const release = (): void => {
      for (const { socket } of received) socket.close();
    };
    const asked = this.#slots.filter((slot) => slot.worker?.connected === true && !this.#held.some((held) => held.slot === slot.index && held.transport === 'udp'));
    if (this.#settings.udp === null || this.mode !== 'reuseport' || asked.length === 0) return { sockets: [], release, relay };
    await Promise.all(
      asked.map((slot) => {
        const worker = slot.worker!;
        const { promise, resolve } = Promise.withResolvers<void>();
        const timer = setTimeout(resolve, timeout);
        slot.collect = (message, handle) => {
          if (message.swb === 'udp-relay-lost') relay.notServed(message.count);
          else if (message.swb === 'udp-socket' && handle !== undefined) {
            handle.on('message', (data, remote) => relay.relay(worker, message.index, data, remote));
            handle.on('error', () => {}); // a read error on our copy: the worker's copy reports its own
            received.push({ socket: handle, slot: slot.index, address: message.address, port: message.port, family: message.family });
          } else if (message.swb === 'udp-sockets-done') {
            clearTimeout(timer);
            resolve();
          }
        };
        worker.send({ swb: 'udp-sockets' });
        return promise;
      }),
    );
    // Node gives a dgram socket no fd number: find ours in /proc by the address each is bound to.
    const mine = new Set(this.#held.map((held) => held.fd));
    const open = [...openInetSockets(['udp', 'udp6'])].filter(([fd, found]) => !mine.has(fd) && found.details.kind === 'datagram');
    const sockets: HeldSocket[] = [];
    for (const entry of received) {
      const index = open.findIndex(([, found]) => found.details.port === entry.port && found.details.address === entry.address);
      if (index < 0) continue;
      const [[fd]] = open.splice(index, 1) as [[number, unknown]];
      sockets.push({ fd, transport: 'udp', address: entry.address, port: entry.port, family: entry.family, slot: entry.slot });
    }
    return { sockets, release, relay };
  }

  /** Each live worker's ledger, asked for now (a worker that does not answer within 1 s is left out). */
  async statsByWorker(): Promise<WorkerStatsEntry[]> {
    const now = performance.now();
    const entries = await Promise.all(
      this.#slots.map(async (slot) => {
        const worker = slot.worker;
        const pid = worker?.pid;
        if (worker === undefined || pid === undefined || !worker.connected) return undefined;
        const stats = await this.#askStats(worker);
        if (stats === undefined || slot.worker !== worker) return undefined;
        slot.last = stats;
        return { slot: slot.index, pid, uptime: now - slot.started, stats };
      }),
    );
    return entries.filter((entry) => entry !== undefined);
  }

  /** The sum over every worker, live ones asked now, dead ones' last ledgers kept: counters never go back. */
  async stats(): Promise<WorkerSetStats> {
    await this.statsByWorker();
    let sum: WorkerStats = { tcp: addLedgers(this.#inherited.tcp, this.#retired.tcp), udp: addLedgers(this.#inherited.udp, this.#retired.udp) };
    for (const slot of this.#slots) if (slot.worker !== undefined) sum = { tcp: addLedgers(sum.tcp, slot.last?.tcp), udp: addLedgers(sum.udp, slot.last?.udp) };
    return { ...(sum.tcp && { tcp: sum.tcp }), ...(sum.udp && { udp: sum.udp }), workers: this.workers().length, respawns: this.#respawns };
  }

  /**
   * Each slot's own sum: its live worker's ledger (asked now) plus its dead predecessors' last
   * ones, so each slot's counters never go back either; the slots add up to {@link stats}.
   */
  async statsBySlot(): Promise<{ readonly slot: number; readonly pid: number | undefined; readonly uptime: number; readonly stats: WorkerStats }[]> {
    await this.statsByWorker();
    const now = performance.now();
    return this.#slots.map((slot) => {
      const live = slot.worker === undefined ? undefined : slot.last;
      return { slot: slot.index, pid: slot.worker?.pid, uptime: slot.worker === undefined ? 0 : now - slot.started, stats: { ...withLedger('tcp', addLedgers(slot.retired.tcp, live?.tcp)), ...withLedger('udp', addLedgers(slot.retired.udp, live?.udp)) } };
    });
  }

  /**
   * Stops every worker accepting, lets each drain its sessions up to `timeout` ms, and resolves
   * once every worker has exited (one still there `timeout` + 1 s later is killed). Idempotent.
   */
  close(options: { readonly timeout?: number } = {}): Promise<void> {
    const timeout = options.timeout ?? 30_000;
    this.#closing ??= this.#stopAll((worker) => worker.send({ swb: 'close', timeout }), timeout + 1_000);
    return this.#closing;
  }

  /** Kills every worker (SIGKILL) and resolves once they have exited. */
  destroy(): Promise<void> {
    this.#closing ??= this.#stopAll((worker) => worker.kill('SIGKILL'), 1_000);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The session-ticket keys every worker shares (for an upgrade's handover). */
  get ticketKeys(): TicketKeys {
    return this.#ticketKeys;
  }

  /** @internal sends the keys in force to every live worker (after a rotation). */
  shareTicketKeys(keys: TicketKeyState): void {
    for (const slot of this.#slots) if (slot.worker?.connected) slot.worker.send({ swb: 'ticket-keys', keys }, () => {});
  }

  /**
   * Tells every live worker to re-read its TLS files (`tls`); resolves with each worker's
   * outcome: `error` is why it kept the certificates in use (a file unreadable, material that
   * does not load, no answer within 5 s).
   */
  async reloadTls(): Promise<{ readonly slot: number; readonly pid: number; readonly error?: string }[]> {
    return Promise.all(
      this.#slots.flatMap((slot) => {
        const worker = slot.worker;
        const pid = worker?.pid;
        if (worker === undefined || pid === undefined || !worker.connected) return [];
        const id = ++this.#requestId;
        const { promise, resolve } = Promise.withResolvers<string | null>();
        const timer = setTimeout(() => resolve('no answer within 5 s'), 5_000);
        this.#replies.set(id, (error) => {
          clearTimeout(timer);
          resolve(error as string | null);
        });
        worker.send({ swb: 'reload-tls', id }, () => {});
        return [promise.then((error) => ({ slot: slot.index, pid, ...(error !== null && { error }) }))];
      }),
    );
  }

  async #stopAll(stop: (worker: ChildProcess) => void, bound: number): Promise<void> {
    clearInterval(this.#statsTimer);
    this.#ticketKeys.stop();
    const exits: Promise<void>[] = [];
    for (const slot of this.#slots) {
      slot.stopped = true;
      clearTimeout(slot.timer);
      const worker = slot.worker;
      if (worker === undefined || worker.exitCode !== null || worker.signalCode !== null) continue;
      exits.push(new Promise((resolve) => worker.once('exit', () => resolve())));
      try {
        if (worker.connected) stop(worker);
        else worker.kill('SIGKILL');
      } catch {
        worker.kill('SIGKILL');
      }
    }
    // Our copies of the listening sockets (a systemd one is held once for every slot) go now, as
    // the workers stop accepting: held on to through the drain, a socket would stay in its port's
    // reuseport group with no one accepting, and the connections the kernel put in its queue
    // would be reset at the end. A successor holding the same sockets keeps them.
    for (const held of new Map(this.#held.map((socket) => [socket.fd, socket])).values()) held.close();
    this.#held = [];
    const killer = setTimeout(() => {
      for (const slot of this.#slots) slot.worker?.kill('SIGKILL');
    }, bound);
    await Promise.all(exits);
    clearTimeout(killer);
    process.off('message', this.#onPredecessor);
  }

  #askStats(worker: ChildProcess): Promise<WorkerStats | undefined> {
    const id = ++this.#requestId;
    const { promise, resolve } = Promise.withResolvers<WorkerStats | undefined>();
    const timer = setTimeout(() => {
      this.#replies.delete(id);
      resolve(undefined);
    }, 1_000);
    this.#replies.set(id, (stats) => {
      clearTimeout(timer);
      resolve(stats as WorkerStats);
    });
    try {
      worker.send({ swb: 'stats', id });
    } catch {
      this.#replies.get(id)?.({});
    }
    return promise;
  }

  /** Starts slot's worker; resolves with its addresses once it serves. @throws {SwitchboardError} `SWB_ERR_WORKER_START_FAILED` */
  #spawn(slot: Slot): Promise<readonly BoundAddress[]> {
    const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--test'));
    let worker: ChildProcess;
    if (this.mode === 'cluster') {
      const settings: WorkerSettings = { ...this.#settings, slot: slot.index, ticketKeys: this.#ticketKeys.state };
      nodeCluster().setupPrimary({ exec: WORKER_MAIN, args: [], execArgv, silent: false });
      worker = nodeCluster().fork({ ...this.#env, [WORKER_ENV]: JSON.stringify(settings) }).process;
    } else {
      // The held sockets become the worker's fds 3, 4, ...; the IPC channel comes after them.
      const held = this.#heldFor(slot.index);
      const fdsOf = (transport: 'tcp' | 'udp'): number[] => held.flatMap((socket, index) => (socket.transport === transport ? [3 + index] : []));
      const [tcpFds, udpFds] = [fdsOf('tcp'), fdsOf('udp')];
      const passed = (transport: 'tcp' | 'udp', fds: number[]): Partial<WorkerSettings> => {
        const options = this.#settings[transport];
        return options === null || fds.length === 0 ? {} : { [transport]: withoutAddress(options), [`${transport}Fds`]: fds };
      };
      const settings: WorkerSettings = { ...this.#settings, ...this.#portsOf(this.#addresses), ...passed('tcp', tcpFds), ...passed('udp', udpFds), slot: slot.index, ticketKeys: this.#ticketKeys.state };
      worker = nodeChildProcess().fork(WORKER_MAIN, [], {
        execArgv,
        env: { ...process.env, ...this.#env, [WORKER_ENV]: JSON.stringify(settings) },
        stdio: ['inherit', 'inherit', 'inherit', ...held.map((socket) => socket.fd), 'ipc'],
      });
    }
    slot.worker = worker;
    slot.started = performance.now();
    slot.last = undefined;
    const { promise, resolve, reject } = Promise.withResolvers<readonly BoundAddress[]>();
    const fail = (message: string) => reject(new SwitchboardError(ErrorCode.WORKER_START_FAILED, `worker ${slot.index} (pid ${worker.pid}): ${message}`));
    const timer = setTimeout(() => {
      fail(`not ready within ${this.#startTimeout} ms`);
      worker.kill('SIGKILL');
    }, this.#startTimeout);
    worker.on('message', (message: unknown, handle: unknown) => {
      if (!isSwitchboardMessage(message)) return;
      const reply = message as WorkerMessage;
      if (reply.swb === 'udp-socket' || reply.swb === 'udp-sockets-done' || reply.swb === 'udp-relay-lost') {
        if (slot.worker === worker) slot.collect?.(reply, handle instanceof nodeDgram().Socket ? handle : undefined);
        else if (handle instanceof nodeDgram().Socket) handle.close();
      } else if (reply.swb === 'ready') {
        clearTimeout(timer);
        resolve(reply.addresses);
      } else if (reply.swb === 'failed') {
        clearTimeout(timer);
        fail(reply.message);
      } else if (reply.swb === 'stats') {
        if (reply.id === 0 && slot.worker === worker) slot.last = reply.stats; // its final ledger, as it exits
        this.#replies.get(reply.id)?.(reply.stats);
        this.#replies.delete(reply.id);
      } else if (reply.swb === 'tls-reloaded') {
        this.#replies.get(reply.id)?.(reply.error ?? null);
        this.#replies.delete(reply.id);
      }
    });
    worker.on('error', () => {}); // an IPC write to a worker just gone; its exit follows
    worker.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(`exited (${signal ?? `code ${code}`}) before it was ready`);
      this.#exited(slot, worker, code, signal);
    });
    return promise;
  }

  /**
   * The settings' ports made concrete: in mode reuseport every worker after the first binds the
   * ports the first got (port 0). Under `cluster` the primary keys its shared socket by the
   * options as given (port 0 included), so they stay as they are.
   */
  #portsOf(addresses: readonly BoundAddress[]): Partial<Pick<WorkerSettings, 'tcp' | 'udp'>> {
    if (this.mode === 'cluster') return {};
    const concrete: { tcp?: JsonOptions | null; udp?: JsonOptions | null } = {};
    for (const transport of ['tcp', 'udp'] as const) {
      const options = this.#settings[transport];
      const bound = addresses.find((address) => address.transport === transport);
      if (options !== null && bound !== undefined && (options.port === undefined || options.port === 0)) concrete[transport] = { ...options, port: bound.port };
    }
    return concrete;
  }

  #exited(slot: Slot, worker: ChildProcess, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    this.#retired = { tcp: addLedgers(this.#retired.tcp, retiredLedger(slot.last?.tcp)), udp: addLedgers(this.#retired.udp, retiredLedger(slot.last?.udp)) };
    slot.retired = { tcp: addLedgers(slot.retired.tcp, retiredLedger(slot.last?.tcp)), udp: addLedgers(slot.retired.udp, retiredLedger(slot.last?.udp)) };
    slot.worker = undefined;
    slot.last = undefined;
    if (slot.stopped || this.#closing !== undefined || this.#addresses.length === 0) return;
    const decision = slot.schedule.exited(performance.now() - slot.started);
    const pid = worker.pid ?? 0;
    if (decision.action === 'stop') {
      slot.stopped = true;
      // No worker will accept from its sockets again: close them rather than let connections wait
      // there (a systemd socket the other workers serve stays).
      const own = (socket: Held): boolean => socket.slot === slot.index && socket.origin === undefined;
      for (const held of this.#held.filter(own)) held.close();
      this.#held = this.#held.filter((socket) => !own(socket));
      this.#report(
        new SwitchboardError(
          ErrorCode.WORKER_CRASH_LOOP,
          `worker ${slot.index} exited ${decision.earlyExits} times in a row, each within ${this.#respawn.minUptime} ms of starting (last: pid ${pid}, ${signal ?? `code ${code}`}): not respawning it`,
        ),
      );
      return;
    }
    this.emit('respawn', { slot: slot.index, pid, code, signal, delay: decision.delay, earlyExits: slot.schedule.earlyExits });
    slot.timer = setTimeout(() => {
      if (slot.stopped) return;
      this.#respawns += 1;
      this.#spawn(slot).then(
        () => this.emit('worker', { slot: slot.index, pid: slot.worker?.pid ?? 0, uptime: 0 }),
        (error: SwitchboardError) => this.#report(error),
      );
    }, decision.delay);
  }

  #report(error: SwitchboardError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else process.emitWarning(error);
  }
}

function withLedger<K extends keyof WorkerStats>(key: K, ledger: WorkerStats[K] | undefined): Partial<WorkerStats> {
  return ledger === undefined ? {} : { [key]: ledger };
}

/**
 * Serves `module`'s handler from `workers` processes on the addresses of `tcp` (and `udp`):
 * resolves once every worker listens. A worker that dies is replaced after a back-off
 * (`respawn`); the set's `close({ timeout })` drains them all.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` for a bad option
 * @throws {SwitchboardError} `SWB_ERR_REUSE_PORT_UNSUPPORTED` for mode `reuseport` where SO_REUSEPORT is missing; `SWB_ERR_WORKER_START_FAILED` (rejects) when a worker cannot start (the others are killed)
 * @example
 * const set = await serveWorkers({ module: new URL('./echo.ts', import.meta.url), workers: 4, tcp: { host: '0.0.0.0', port: 7000 } });
 * console.log(await set.stats()); // the sum over the four
 * await set.close({ timeout: 10_000 });
 */
export async function serveWorkers(options: ServeWorkersOptions): Promise<WorkerSet> {
  if (nodeCluster().isWorker) throw new InvalidOptionError('serveWorkers', 'must be called in the primary, not in a worker', 'a cluster worker');
  const count = options.workers === undefined || options.workers === 'auto' ? availableParallelism() : options.workers;
  if (!Number.isInteger(count) || count < 1 || count > 1024) throw new InvalidOptionError('workers', "must be 'auto' or an integer from 1 to 1024", options.workers);
  const mode = options.mode ?? (supportsReusePort() ? 'reuseport' : 'cluster');
  if (mode !== 'reuseport' && mode !== 'cluster') throw new InvalidOptionError('mode', "must be 'reuseport' or 'cluster'", mode);
  if (mode === 'reuseport' && !supportsReusePort()) throw new SwitchboardError(ErrorCode.REUSE_PORT_UNSUPPORTED, `workers: mode 'reuseport' needs SO_REUSEPORT, which ${process.platform} on Node.js ${process.versions.node} lacks: use mode 'cluster'`);
  const moduleUrl = options.module instanceof URL ? options.module.href : options.module;
  if (typeof moduleUrl !== 'string' || moduleUrl === '') throw new InvalidOptionError('module', 'must be a path or a file URL', options.module);
  const tcp = options.tcp === false ? null : { ...options.tcp };
  const udp = options.udp === undefined ? null : { ...options.udp };
  if (tcp === null && udp === null) throw new InvalidOptionError('tcp', 'may be false only with `udp`: nothing to serve', false);
  const timing = { startTimeout: options.startTimeout ?? 10_000, orphanDrainTimeout: options.orphanDrainTimeout ?? 5_000, statsInterval: options.statsInterval ?? 1_000 };
  for (const [name, value] of Object.entries(timing)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new InvalidOptionError(name, 'must be a positive number of milliseconds', value);
  }
  if (options.tls !== undefined && (tcp === null || typeof options.tls?.cert !== 'string' || typeof options.tls.key !== 'string')) throw new InvalidOptionError('tls', tcp === null ? 'needs a TCP server' : 'must name `cert` and `key` files', options.tls);
  const settings = { module: moduleUrl, tcp, udp, reusePort: mode === 'reuseport', orphanDrainTimeout: timing.orphanDrainTimeout, ...(options.tls && { tlsFiles: { ...options.tls } }) };
  let set: WorkerSet | undefined = undefined;
  const ticketKeys = new TicketKeys(options.ticketKeyRotation ?? DEFAULT_TICKET_KEY_ROTATION, (keys) => set?.shareTicketKeys(keys), options.ticketKeys ?? options.handover?.ticketKeys);
  set = new WorkerSet(settings, count, mode, normalizeRespawnOptions(options.respawn), timing.startTimeout, timing.statsInterval, { ...options.env }, ticketKeys, options.handover, options.takeOver);
  await set.start();
  return set;
}

/** `net.BoundSocket` (Node 24.21+): a socket bound without listening. Undefined on an older Node (the package's floor is 22.12). */
const NetBoundSocket = (net as { BoundSocket?: typeof net.BoundSocket }).BoundSocket;
/** Whether the primary can hold the TCP sockets (mode `reuseport`): without, an upgrade falls back to binding beside them. */
export const HOLDS_TCP_SOCKETS = NetBoundSocket !== undefined;

/** Binds a SO_REUSEPORT TCP socket without listening (net.BoundSocket): the primary holds it, a worker listens on it. */
const boundSocketBinder: SocketBinder<net.BoundSocket> = {
  transport: 'tcp',
  bind: async (target, port) => {
    const handle = new NetBoundSocket!({ host: target.host, port, reusePort: true, ipv6Only: target.ipv6Only });
    return { handle, port: (handle.address() as net.AddressInfo).port };
  },
  close: async (handle) => handle.close(),
};

/** A predecessor's ledger as a starting point: its counters, its gauges 0 (its sessions are its own). */
function retiredTotals(stats: WorkerStats): WorkerStats {
  return { ...(stats.tcp && { tcp: retiredLedger(stats.tcp) }), ...(stats.udp && { udp: retiredLedger(stats.udp) }) };
}
