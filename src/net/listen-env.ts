/**
 * The `LISTEN_FDS` protocol (sd_listen_fds(3)) as pure functions over the three variables:
 * which fds, from 3, were passed to this process and the names the manager gave them.
 */
import { ErrorCode } from '../core/errors.ts';
import { ActivationError } from './activation-error.ts';
import { takeProcessEnvironment } from './process-env.ts';

/** The first passed fd (`SD_LISTEN_FDS_START`). */
export const LISTEN_FDS_START = 3;

/** The name of an fd the manager did not name (libsystemd's, when `LISTEN_FDNAMES` is unset). */
export const UNNAMED_FD = 'unknown';

/** More fds than any file-descriptor limit allows: a `LISTEN_FDS` above it is malformed. */
const MAX_LISTEN_FDS = 1 << 20;

/** The variables of the protocol, as a manager set them. */
export interface ListenEnvironment {
  readonly LISTEN_PID?: string | undefined;
  readonly LISTEN_FDS?: string | undefined;
  readonly LISTEN_FDNAMES?: string | undefined;
}

/** How to read a {@link ListenEnvironment}. */
export interface ListenEnvironmentOptions {
  /**
   * Accept `LISTEN_FDS` without `LISTEN_PID`, for wrappers that cannot know the final pid
   * (systemfd, catflap: the extension Rust's listenfd makes). A `LISTEN_PID` that is set and
   * names another process is ignored all the same.
   * @default false
   */
  readonly allowMissingPid?: boolean;
}

/** One passed fd and its name. */
export interface ListenFdEntry {
  readonly fd: number;
  readonly name: string;
}

/** What the environment passed to this process. */
export interface ParsedListenEnvironment {
  /** The passed fds in order (3, 4, ...); empty when none are for this process. */
  readonly entries: readonly ListenFdEntry[];
  /** Why `entries` is empty: `LISTEN_FDS is not set`, `LISTEN_PID=41 is another process (this is 42)`; undefined when it is not. */
  readonly reason: string | undefined;
}

/**
 * Reads the protocol's variables for the process `pid`.
 * @throws ActivationError `SWB_ERR_ACTIVATION_BAD_ENVIRONMENT` when the variables meant for this process are malformed
 * @example
 * parseListenEnvironment({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:web' }, 42).entries;
 * // [{ fd: 3, name: 'web' }, { fd: 4, name: 'web' }]
 */
export function parseListenEnvironment(env: ListenEnvironment, pid: number, options: ListenEnvironmentOptions = {}): ParsedListenEnvironment {
  const count = env.LISTEN_FDS;
  if (count === undefined || count === '') return { entries: [], reason: 'LISTEN_FDS is not set' };
  const owner = env.LISTEN_PID;
  if (owner === undefined || owner === '') {
    if (options.allowMissingPid !== true) return { entries: [], reason: 'LISTEN_PID is not set (allowMissingPid accepts that)' };
  } else {
    if (!/^[1-9]\d{0,9}$/.test(owner)) throw badEnvironment(`LISTEN_PID=${JSON.stringify(owner)} is not a process id`);
    if (Number(owner) !== pid) return { entries: [], reason: `LISTEN_PID=${owner} is another process (this is ${pid})` };
  }
  if (!/^\d{1,8}$/.test(count) || Number(count) > MAX_LISTEN_FDS) throw badEnvironment(`LISTEN_FDS=${JSON.stringify(count)} is not a count of fds`);
  const n = Number(count);
  if (n === 0) return { entries: [], reason: 'LISTEN_FDS=0' };
  const names = env.LISTEN_FDNAMES === undefined ? undefined : env.LISTEN_FDNAMES.split(':');
  if (names !== undefined && names.length !== n) {
    throw badEnvironment(`LISTEN_FDNAMES=${JSON.stringify(env.LISTEN_FDNAMES)} has ${names.length} name(s) for LISTEN_FDS=${n}`);
  }
  const entries: ListenFdEntry[] = [];
  for (let index = 0; index < n; index++) entries.push({ fd: LISTEN_FDS_START + index, name: names?.[index] ?? UNNAMED_FD });
  return { entries, reason: undefined };
}

/**
 * This process's `LISTEN_*` variables as they were at the first call; that call removes them
 * from `process.env`, so children never inherit them (sd_listen_fds' `unset_environment`).
 * Every later call returns the same values, so a second reader is not left with nothing.
 */
export function takeListenEnvironment(): ListenEnvironment {
  return takeProcessEnvironment(['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']);
}

function badEnvironment(message: string): ActivationError {
  return new ActivationError(ErrorCode.ACTIVATION_BAD_ENVIRONMENT, `socket activation: ${message}`);
}
