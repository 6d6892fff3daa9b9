/**
 * sd_notify(3) without a native addon: Node's `dgram` has no AF_UNIX datagram sockets, so each
 * message is handed to `systemd-notify --no-block` (without `--no-block` it waits for a
 * barrier that only systemd answers). At most one helper runs at a time; what is said meanwhile
 * is merged into the next. With no `NOTIFY_SOCKET` a notifier costs nothing: no timer, no spawn.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { ErrorCode, InvalidOptionError, SwitchboardError } from '../core/errors.ts';
import { integerOption } from '../core/options.ts';
import { enqueueNotification, notifyArguments, notifyMessage, type NotifyMessage } from './notify-message.ts';
import { takeProcessEnvironment } from '../net/process-env.ts';
import { nodeChildProcess } from '../core/builtins.ts';

/** The variables a service manager sets for notification. */
export interface NotifyEnvironment {
  readonly NOTIFY_SOCKET?: string | undefined;
  readonly WATCHDOG_USEC?: string | undefined;
  readonly WATCHDOG_PID?: string | undefined;
}

/** Options of {@link ServiceNotifier}. */
export interface ServiceNotifierOptions {
  /**
   * The variables to read instead of this process's. This process's are read once, at the
   * first notifier, then removed from `process.env`, so that no child (a program `exec`
   * runs) can report for the service.
   */
  readonly env?: NotifyEnvironment;
  /** The helper to run. @default 'systemd-notify' */
  readonly command?: string;
  /** How long a helper may run before it is killed (ms); it returns at once with `--no-block`. @default 5000 */
  readonly helperTimeout?: number;
  /** Send `WATCHDOG=1` every `WATCHDOG_USEC / 2` while the event loop runs, when the manager asks for it. @default true */
  readonly watchdog?: boolean;
  /**
   * A pid to name as the service's main process (`--pid`, which adds `MAINPID=` to every
   * message), for a process that is not itself the one the manager started. Not needed to be
   * heard: the credentials carry our pid (root) or the helper's (others) either way.
   * @default none
   */
  readonly mainPid?: number;
}

/** Events of a {@link ServiceNotifier}. */
export interface ServiceNotifierEvents {
  /** A message could not be handed over (`SWB_ERR_NOTIFY_FAILED`); without a listener it is a process warning. */
  warning: [warning: SwitchboardError];
}

/** `systemd-notify --no-block` returns at once; this only bounds one that hangs. */
export const DEFAULT_NOTIFY_HELPER_TIMEOUT = 5000;

const MAX_STDERR = 512;

/**
 * Tells the service manager about this service: ready, status, reloading, stopping, alive.
 * Disabled (every call a no-op) when `NOTIFY_SOCKET` is not set, and for good once the helper
 * is found missing. The unit needs `NotifyAccess=all`: a message comes from the helper's pid
 * (when run as root, systemd-notify puts its parent's, ours, in the credentials; others cannot);
 * see docs/systemd.md.
 * @throws InvalidOptionError for a bad option
 * @example
 * const notifier = new ServiceNotifier();
 * await server.listen();
 * notifier.ready('serving echo on 127.0.0.1:7');
 * process.once('SIGTERM', async () => { notifier.stopping(); await server.close(); await notifier.close(); });
 */
export class ServiceNotifier extends EventEmitter<ServiceNotifierEvents> {
  /** How often `WATCHDOG=1` is sent (ms), when the manager asked for it. */
  declare readonly watchdogInterval: number | undefined;
  #socket: string | undefined;
  readonly #command: string;
  readonly #helperTimeout: number;
  readonly #pidArgument: string[];
  #queue: NotifyMessage[] = [];
  #inFlight: ChildProcess | undefined;
  #watchdogTimer: NodeJS.Timeout | undefined;
  #idle: PromiseWithResolvers<void> | undefined;
  #closing: Promise<void> | undefined;
  #warned = false;

  constructor(options: ServiceNotifierOptions = {}) {
    super();
    const env = options.env ?? takeProcessEnvironment(['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']);
    const command = options.command ?? 'systemd-notify';
    if (typeof command !== 'string' || command === '') throw new InvalidOptionError('command', 'must be a non-empty string', command);
    this.#command = command;
    this.#helperTimeout = integerOption('helperTimeout', options.helperTimeout, DEFAULT_NOTIFY_HELPER_TIMEOUT, 1, 2 ** 31 - 1);
    this.#pidArgument = options.mainPid === undefined ? [] : [`--pid=${integerOption('mainPid', options.mainPid, 0, 1)}`];
    this.#socket = env.NOTIFY_SOCKET === '' ? undefined : env.NOTIFY_SOCKET;
    this.watchdogInterval = this.#socket !== undefined && options.watchdog !== false ? watchdogIntervalOf(env, process.pid) : undefined;
    if (this.watchdogInterval !== undefined) {
      // A timer only fires while the event loop turns: a blocked loop stops the pings, which is
      // what the manager's watchdog is there to notice.
      this.#watchdogTimer = setInterval(() => this.watchdog(), this.watchdogInterval).unref();
    }
  }

  /** Messages are sent: `NOTIFY_SOCKET` is set, the helper was not found missing, and `close()` was not called. */
  get enabled(): boolean {
    return this.#socket !== undefined && this.#closing === undefined;
  }

  /** `READY=1`: every address is bound and the service serves. */
  ready(status?: string): void {
    this.notify(status === undefined ? { READY: '1' } : { READY: '1', STATUS: status });
  }

  /** `STATUS=...`: one line of free text `systemctl status` shows. */
  status(text: string): void {
    this.notify({ STATUS: text });
  }

  /** `RELOADING=1` (with `MONOTONIC_USEC`, which `Type=notify-reload` asks for); send {@link ready} when done. */
  reloading(status?: string): void {
    const now = String(process.hrtime.bigint() / 1000n); // CLOCK_MONOTONIC, as the manager's
    this.notify(status === undefined ? { RELOADING: '1', MONOTONIC_USEC: now } : { RELOADING: '1', MONOTONIC_USEC: now, STATUS: status });
  }

  /** `STOPPING=1`: a close began. */
  stopping(status?: string): void {
    this.notify(status === undefined ? { STOPPING: '1' } : { STOPPING: '1', STATUS: status });
  }

  /** `WATCHDOG=1` now (the timer sends it on its own when the manager asked for a watchdog). */
  watchdog(): void {
    this.notify({ WATCHDOG: '1' });
  }

  /**
   * Sends `assignments` (`{ STATUS: 'x' }` -> `STATUS=x`); newlines in values become spaces.
   * @throws InvalidOptionError for a key that is not upper case letters, digits and `_`
   */
  notify(assignments: Readonly<Record<string, string>>): void {
    if (!this.enabled) return;
    enqueueNotification(this.#queue, notifyMessage(assignments));
    this.#sendNext();
  }

  /** Resolves once every message said so far was handed over (or given up); never rejects. */
  flush(): Promise<void> {
    if (this.#inFlight === undefined && this.#queue.length === 0) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  /** Stops the watchdog and sends what is queued; later calls are no-ops. Idempotent; never rejects. */
  close(): Promise<void> {
    clearInterval(this.#watchdogTimer);
    this.#closing ??= this.flush();
    return this.#closing;
  }

  #sendNext(): void {
    if (this.#inFlight !== undefined) return;
    const message = this.#queue.shift();
    if (message === undefined || this.#socket === undefined) {
      this.#queue = [];
      const idle = this.#idle;
      this.#idle = undefined;
      idle?.resolve();
      return;
    }
    let child: ChildProcess;
    try {
      child = nodeChildProcess().spawn(this.#command, ['--no-block', ...this.#pidArgument, ...notifyArguments(message)], {
        env: { ...process.env, NOTIFY_SOCKET: this.#socket },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (error) {
      this.#warn(`could not run ${this.#command}: ${(error as Error).message}`, error);
      queueMicrotask(() => this.#sendNext());
      return;
    }
    this.#watch(child);
  }

  #watch(child: ChildProcess): void {
    this.#inFlight = child;
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < MAX_STDERR) stderr += text;
    });
    const killer = setTimeout(() => {
      this.#warn(`${this.#command} did not exit within ${this.#helperTimeout} ms; killed it`);
      child.kill('SIGKILL');
    }, this.#helperTimeout);
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(killer);
      this.#inFlight = undefined;
      this.#sendNext();
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        this.#warn(`${this.#command} was not found (ENOENT): readiness and watchdog notifications are off`, error, true);
        this.#socket = undefined;
        clearInterval(this.#watchdogTimer);
      } else {
        this.#warn(`could not run ${this.#command}: ${error.message}`, error);
      }
      settle();
    });
    child.once('close', (code, signal) => {
      if (code === 0) this.#warned = false;
      else if (code !== null && code >= 0 && !settled) this.#warn(`${this.#command} exited with status ${code}${stderr ? `: ${stderr.trim().split('\n')[0]}` : ''}`);
      else if (signal !== null && !settled) this.#warn(`${this.#command} was killed by ${signal}`);
      settle();
    });
  }

  /** One warning per run of failures (a success re-arms it); `always` for the last one there will be. */
  #warn(message: string, cause?: unknown, always = false): void {
    if (this.#warned && !always) return;
    this.#warned = true;
    const warning = new SwitchboardError(ErrorCode.NOTIFY_FAILED, `sd_notify: ${message}`, cause === undefined ? undefined : { cause });
    if (this.listenerCount('warning') > 0) this.emit('warning', warning);
    else process.emitWarning(warning);
  }
}

/**
 * The watchdog ping interval (ms) the environment asks of the process `pid`: half of
 * `WATCHDOG_USEC`; none when it is unset or malformed, or when `WATCHDOG_PID` names another process.
 * @example
 * watchdogIntervalOf({ WATCHDOG_USEC: '30000000' }, process.pid); // 15000
 */
export function watchdogIntervalOf(env: NotifyEnvironment, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^[1-9]\d{0,15}$/.test(usec)) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && env.WATCHDOG_PID !== String(pid)) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}
