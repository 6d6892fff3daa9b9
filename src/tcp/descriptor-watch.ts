/**
 * Running out of file descriptors (EMFILE, ENFILE). When accept fails for lack of one, libuv
 * closes a reserve descriptor, accepts and resets the pending connections, and reopens the
 * reserve -- so Node neither spins nor hears about it, and accepting resumes by itself once
 * descriptors free up. To say so, the server probes: opening one descriptor a second while it
 * listens, and warning when that fails.
 */
import { ErrorCode, OpError, type OpContext } from '../core/errors.ts';
import { PeriodicSweep } from '../server/periodic-sweep.ts';
import { nodeFs } from '../core/builtins.ts';

/** How often a listening server checks that it could accept a descriptor. */
export const DESCRIPTOR_PROBE_INTERVAL = 1000;

/** While descriptors stay exhausted, how often the warning is repeated. */
export const DESCRIPTOR_WARNING_REPEAT = 60_000;

const PROBE_PATH = '/dev/null';

/** Whether an error means the process or the system is out of descriptors. */
export function isDescriptorExhaustion(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * The warning a server emits: `SWB_ERR_SOCKET` with `syscallCode` EMFILE or ENFILE, which says
 * exactly what ran out.
 */
export function descriptorWarning(context: OpContext, cause: unknown): OpError {
  const scope = (cause as NodeJS.ErrnoException).code === 'ENFILE' ? 'the system' : 'the process';
  return new OpError(context, ErrorCode.SOCKET, `${scope} is out of file descriptors: new connections are reset until descriptors free up`, cause);
}

/** Notices descriptor exhaustion and reports it once when it starts, then at most once a minute. @internal */
export class DescriptorWatch {
  readonly #warn: (cause: NodeJS.ErrnoException) => void;
  readonly #now: () => number;
  readonly #sweep: PeriodicSweep | undefined;
  #exhausted = false;
  #lastWarning = -Infinity;

  constructor(warn: (cause: NodeJS.ErrnoException) => void, period = DESCRIPTOR_PROBE_INTERVAL, now: () => number = () => performance.now()) {
    this.#warn = warn;
    this.#now = now;
    if (process.platform !== 'win32') this.#sweep = new PeriodicSweep(period, () => this.probe());
  }

  /** Whether the last probe (or accept) found no descriptor to spare. */
  get exhausted(): boolean {
    return this.#exhausted;
  }

  start(): void {
    this.#sweep?.start();
  }

  stop(): void {
    this.#sweep?.stop();
  }

  /** Node reported EMFILE/ENFILE from accept itself (libuv had no reserve descriptor). */
  failed(cause: NodeJS.ErrnoException): void {
    this.#enter(cause);
  }

  /** Opens and closes one descriptor; a failure for lack of descriptors is reported. */
  probe(): void {
    let fd: number;
    try {
      fd = nodeFs().openSync(PROBE_PATH, 'r');
    } catch (error) {
      if (isDescriptorExhaustion(error)) this.#enter(error as NodeJS.ErrnoException);
      return;
    }
    nodeFs().closeSync(fd);
    this.#exhausted = false;
  }

  #enter(cause: NodeJS.ErrnoException): void {
    const now = this.#now();
    if (this.#exhausted && now - this.#lastWarning < DESCRIPTOR_WARNING_REPEAT) return;
    this.#exhausted = true;
    this.#lastWarning = now;
    this.#warn(cause);
  }
}
