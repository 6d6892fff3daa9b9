/**
 * A zero-downtime upgrade of a whole process (new code, new config): the running process starts
 * its successor — the same command line, so whatever is installed now — with an IPC channel,
 * tells it the addresses it serves (so a port 0 stays the same port), and waits, bounded by the
 * upgrade timeout, for it to report ready. Only then does the caller stop accepting and drain.
 * A successor that exits, fails or is late is killed: the old process keeps serving.
 *
 * In mode `reuseport` the successor's workers bind SO_REUSEPORT sockets beside the old ones, so
 * the kernel spreads new connections over both until the old close theirs. A closing reuseport
 * socket's accept queue is reset unless `net.ipv4.tcp_migrate_req=1` moves it to a sibling:
 * {@link tcpMigrateReq} says which, and docs/workers.md what each loses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ErrorCode, SwitchboardError } from '../core/errors.ts';
import type { BoundAddress } from '../net/listener-group.ts';
import { isSwitchboardMessage } from './worker-messages.ts';

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
  /** The addresses this process serves; the successor reads them with {@link inheritedAddresses}. */
  readonly addresses?: readonly BoundAddress[];
  /** Aborting it gives the upgrade up: the successor is killed (this process is stopping, say). */
  readonly signal?: AbortSignal;
}

/**
 * Starts the successor and resolves with it once it reported ready (through
 * {@link reportUpgradeReady}); its IPC channel is closed then, and it runs on its own.
 * @throws {SwitchboardError} `SWB_ERR_UPGRADE_FAILED` (rejects) when it could not be started, exited, or was not ready in time — it is killed first
 */
export async function startSuccessor(options: UpgradeOptions = {}): Promise<ChildProcess> {
  const timeout = options.timeout ?? DEFAULT_UPGRADE_TIMEOUT;
  const command = options.command ?? { file: process.execPath, args: [...process.execArgv, ...process.argv.slice(1)] };
  const child = spawn(command.file, command.args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [UPGRADE_ENV]: JSON.stringify(options.addresses ?? []) },
  });
  const { promise, resolve, reject } = Promise.withResolvers<ChildProcess>();
  const fail = (why: string): void => {
    clearTimeout(timer);
    child.kill('SIGKILL');
    reject(new SwitchboardError(ErrorCode.UPGRADE_FAILED, `upgrade: the new process (pid ${child.pid ?? 'none'}) ${why}; it was killed and this one keeps serving`));
  };
  const timer = setTimeout(() => fail(`was not ready within ${timeout} ms`), timeout);
  child.once('error', (error) => fail(`could not be started: ${error.message}`));
  const onAbort = (): void => fail('was given up (the upgrade was aborted)');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  void promise.catch(() => {}).finally(() => options.signal?.removeEventListener('abort', onAbort));
  child.once('exit', (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`));
  child.on('message', (message: unknown) => {
    if (!isSwitchboardMessage(message)) return;
    if (message.swb === 'upgrade-ready') {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.disconnect();
      child.unref();
      resolve(child);
    } else if (message.swb === 'upgrade-failed') {
      fail(`failed: ${String((message as { message?: unknown }).message)}`);
    }
  });
  return promise;
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
 * Tells the predecessor this process serves (or, with `failure`, that it cannot), and closes the
 * channel to it; the variable is removed so that a later upgrade from here starts clean. A
 * no-op (false) when this process is no successor.
 */
export function reportUpgradeReady(failure?: string): boolean {
  if (!isUpgradeSuccessor()) return false;
  delete process.env[UPGRADE_ENV];
  process.send?.(failure === undefined ? { swb: 'upgrade-ready', pid: process.pid } : { swb: 'upgrade-failed', message: failure }, () => process.disconnect?.());
  return true;
}

/**
 * `net.ipv4.tcp_migrate_req` (Linux 5.14+): 1 moves a closing SO_REUSEPORT socket's queued
 * connections to a sibling, 0 resets them; undefined where it cannot be read (another OS, an
 * older kernel). Read in the process's own network namespace.
 */
export function tcpMigrateReq(path = '/proc/sys/net/ipv4/tcp_migrate_req'): 0 | 1 | undefined {
  try {
    const value = readFileSync(path, 'utf8').trim();
    return value === '1' ? 1 : value === '0' ? 0 : undefined;
  } catch {
    return undefined;
  }
}
