/**
 * A zero-downtime upgrade of a whole process (new code, new config): the running process starts
 * its successor -- the same command line, so whatever is installed now -- with an IPC channel and
 * its listening sockets as inherited fds (3, 4, ...), hands it the {@link UpgradeHandover} (which
 * socket is which, and the counters so far) over that channel, and waits, bounded by the upgrade
 * timeout, for it to report ready. Only then does the caller stop accepting and drain; once
 * drained it sends its final counters ({@link Successor.finish}) and exits.
 *
 * The successor listens on the very kernel sockets the old process listened on, so the queue of
 * connections not yet accepted is never dropped, whatever `net.ipv4.tcp_migrate_req` says. A
 * successor that exits, fails or is late is killed: the old process keeps serving.
 */
import type { ChildProcess } from 'node:child_process';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';
import type { BoundAddress } from '../net/listener-group.ts';
import { inheritedInetSockets } from '../net/proc-sockets.ts';
import { normalizeUdpRelayLimits, type UdpRelayLimits, type UdpTransit } from './udp-relay.ts';
import { isSwitchboardMessage, type PredecessorMessage, type SuccessorMessage, type UpgradeHandover, type WorkerStats } from './worker-messages.ts';
import type { WorkerSet } from './worker-set.ts';
import { nodeChildProcess, nodeFs } from '../core/builtins.ts';

/** The environment variable that tells a process it is an upgrade's successor: the addresses its predecessor serves, as JSON. @internal */
export const UPGRADE_ENV = 'SWITCHBOARD_UPGRADE';

/** The default bound on how long a successor may take to report ready, ms (tableflip's). */
export const DEFAULT_UPGRADE_TIMEOUT = 60_000;

/** How the successor is started. */
export interface UpgradeOptions {
  /** Kill the successor and give up when it is not ready within this, ms. @default 60_000 */
  readonly timeout?: number;
  /** The command to start; the same as this process's by default (`process.execPath`, its flags and arguments). */
  readonly command?: { readonly file: string; readonly args: readonly string[] };
  /** The workers whose listening sockets (and counters) the successor takes over. */
  readonly workers?: WorkerSet;
  /** The addresses this process serves; the successor reads them with {@link inheritedAddresses}. @default the workers' addresses */
  readonly addresses?: readonly BoundAddress[];
  /** Aborting it gives the upgrade up: the successor is killed (this process is stopping, say). */
  readonly signal?: AbortSignal;
  /**
   * The bound on the datagrams relayed while the UDP sockets the workers bound themselves are
   * collected (the first upgrade): see {@link Successor.udpTransit}.
   * @default { maxDatagrams: 1024, maxBytes: 1_048_576 }
   */
  readonly udpRelay?: UdpRelayLimits;
  /** More state for the successor: the fields of {@link UpgradeHandover} beyond sockets and counters (TLS ticket keys, say). */
  readonly state?: Omit<UpgradeHandover, 'version' | 'pid' | 'sockets' | 'stats'>;
}

/** A successor that reported ready: it serves on the handed-over sockets. */
export interface Successor {
  readonly process: ChildProcess;
  /**
   * Sends this process's final counters (its totals once drained: the successor's counters
   * continue from them) and closes the channel; the successor then runs on its own.
   */
  finish(stats?: WorkerStats): void;
  /**
   * The datagrams this process read while it collected the workers' own UDP sockets (Node reads
   * every dgram socket it is handed): `relayed` to the worker that owns the socket, which served
   * them there, or `lost` (past the `udpRelay` limits, the worker gone). All 0 when the sockets
   * were held already (from the second upgrade on) or there is no UDP. Read when needed: it
   * settles once the last relayed datagram is written to its worker's channel.
   */
  readonly udpTransit: UdpTransit;
}

/**
 * Starts the successor with the workers' listening sockets and resolves once it reported ready
 * (through {@link reportUpgradeReady}).
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` (rejects) for `udpRelay` limits that are not non-negative integers
 * @throws {SwitchboardError} `SWB_ERR_UPGRADE_FAILED` (rejects) when it could not be started, exited, failed, or was not ready in time -- it is killed first
 * @example
 * const successor = await startSuccessor({ workers: set });
 * await set.close({ timeout: 10_000 }); // stop accepting, drain
 * successor.finish(await set.stats());
 */
export async function startSuccessor(options: UpgradeOptions = {}): Promise<Successor> {
  const timeout = options.timeout ?? DEFAULT_UPGRADE_TIMEOUT;
  const relayLimits = normalizeUdpRelayLimits(options.udpRelay);
  const command = options.command ?? { file: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)] };
  const totals: WorkerStats = options.workers === undefined ? {} : await options.workers.stats();
  // The UDP sockets the workers bound themselves come over IPC first: this process holds no unread
  // copy of them. What it reads from them until the spawn goes back to their workers (udp-relay.ts).
  const collected = await options.workers?.collectUdpSockets(relayLimits);
  const held = [...(options.workers?.heldSockets() ?? []), ...(collected?.sockets ?? [])];
  const handover: UpgradeHandover = {
    ...options.state,
    version: 1,
    pid: process.pid,
    // Held sockets are already plain records (heldSockets() leaves out what only this process needs): only the fd number changes.
    sockets: held.map((socket, index) => ({ ...socket, fd: 3 + index })),
    stats: { ...(totals.tcp && { tcp: totals.tcp }), ...(totals.udp && { udp: totals.udp }) },
  };
  const addresses = options.addresses ?? options.workers?.addresses ?? [];
  const child = nodeChildProcess().spawn(command.file, command.args, {
    stdio: ['ignore', 'inherit', 'inherit', ...held.map((socket) => socket.fd), 'ipc'],
    env: { ...process.env, [UPGRADE_ENV]: JSON.stringify(addresses) },
  });
  collected?.release(); // in the tick of the spawn: the successor has its copies now
  const { promise, resolve, reject } = Promise.withResolvers<Successor>();
  const fail = (why: string): void => {
    clearTimeout(timer);
    child.kill('SIGKILL');
    reject(new SwitchboardError(ErrorCode.UPGRADE_FAILED, `upgrade: the new process (pid ${child.pid ?? 'none'}) ${why}; it was killed and this one keeps serving`));
  };
  const timer = setTimeout(() => fail(`was not ready within ${timeout} ms`), timeout);
  child.once('error', (error) => fail(`could not be started: ${error.message}`));
  child.on('error', () => {}); // an IPC write to a successor just gone; its exit follows
  const onAbort = (): void => fail('was given up (the upgrade was aborted)');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  void promise.catch(() => {}).finally(() => options.signal?.removeEventListener('abort', onAbort));
  child.once('exit', (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`));
  const finish = (stats?: WorkerStats): void => {
    if (!child.connected) return;
    const final: PredecessorMessage = { swb: 'upgrade-final', stats: stats ?? {} };
    child.send(final, () => (child.connected ? child.disconnect() : undefined));
  };
  child.on('message', (message: unknown) => {
    if (!isSwitchboardMessage(message)) return;
    const said = message as SuccessorMessage | { readonly swb: 'upgrade-hello' };
    if (said.swb === 'upgrade-hello') {
      child.send({ swb: 'upgrade-handover', handover } satisfies PredecessorMessage);
    } else if (said.swb === 'upgrade-ready') {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.unref();
      child.channel?.unref(); // open for finish(), but no reason for this process to stay
      const relay = collected?.relay;
      resolve({
        process: child,
        finish,
        get udpTransit() {
          return relay?.transit ?? { read: 0, relayed: 0, lost: 0 };
        },
      });
    } else if (said.swb === 'upgrade-failed') {
      fail(`failed: ${String(said.message)}`);
    }
  });
  return promise;
}

/**
 * In a successor: asks the predecessor for its {@link UpgradeHandover} and resolves with it
 * (undefined when this process is no successor). The inherited sockets it does not list are
 * closed here (a predecessor's other fds a child would inherit).
 * @throws {SwitchboardError} `SWB_ERR_UPGRADE_FAILED` (rejects) when none arrives within `timeout` ms, or in a format this version does not know
 */
export async function receiveHandover(timeout = 10_000): Promise<UpgradeHandover | undefined> {
  if (!isUpgradeSuccessor()) return undefined;
  const { promise, resolve, reject } = Promise.withResolvers<UpgradeHandover>();
  const onMessage = (message: unknown): void => {
    if (!isSwitchboardMessage(message) || (message as PredecessorMessage).swb !== 'upgrade-handover') return;
    const { handover } = message as unknown as { readonly handover: UpgradeHandover | undefined };
    if (handover?.version !== 1) reject(new SwitchboardError(ErrorCode.UPGRADE_FAILED, `upgrade: the predecessor handed over state version ${String(handover?.version)}; this version reads 1`));
    else resolve(handover);
  };
  const timer = setTimeout(() => reject(new SwitchboardError(ErrorCode.UPGRADE_FAILED, `upgrade: no handover from the predecessor within ${timeout} ms`)), timeout);
  process.on('message', onMessage);
  process.send?.({ swb: 'upgrade-hello' });
  try {
    const handover = await promise;
    const listed = new Set(handover.sockets.map((socket) => socket.fd));
    for (const fd of inheritedInetSockets()) if (!listed.has(fd)) nodeFs().closeSync(fd);
    return handover;
  } finally {
    clearTimeout(timer);
    process.off('message', onMessage);
  }
}

/** Whether this process was started by {@link startSuccessor}. */
export function isUpgradeSuccessor(): boolean {
  return process.env[UPGRADE_ENV] !== undefined && process.send !== undefined;
}

/** The addresses the predecessor serves, when this process is its successor (else undefined). */
export function inheritedAddresses(): readonly BoundAddress[] | undefined {
  const text = process.env[UPGRADE_ENV];
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? (parsed as BoundAddress[]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Tells the predecessor this process serves (or, with `failure`, that it cannot); the variable
 * is removed so that a later upgrade from here starts clean. The channel stays open for the
 * predecessor's final counters (it closes it); after a failure it is closed here. A no-op
 * (false) when this process is no successor.
 */
export function reportUpgradeReady(failure?: string): boolean {
  if (!isUpgradeSuccessor()) return false;
  delete process.env[UPGRADE_ENV];
  const message: SuccessorMessage = failure === undefined ? { swb: 'upgrade-ready', pid: process.pid } : { swb: 'upgrade-failed', message: failure };
  process.send?.(message, () => (failure === undefined ? undefined : process.disconnect?.()));
  return true;
}

/**
 * `net.ipv4.tcp_migrate_req` (Linux 5.14+): 1 moves a closing SO_REUSEPORT socket's queued
 * connections to a sibling, 0 resets them; undefined where it cannot be read (another OS, an
 * older kernel). Read in the process's own network namespace.
 */
export function tcpMigrateReq(path = '/proc/sys/net/ipv4/tcp_migrate_req'): 0 | 1 | undefined {
  try {
    const value = nodeFs().readFileSync(path, 'utf8').trim();
    return value === '1' ? 1 : value === '0' ? 0 : undefined;
  } catch {
    return undefined;
  }
}
