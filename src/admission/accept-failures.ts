/**
 * Running out of file descriptors on accept (EMFILE, ENFILE). libuv's reserve-descriptor trick
 * already resets the pending connections instead of spinning, and accepting resumes by itself
 * once descriptors free up; what is left for us is to say so, without flooding the listener.
 */
import { ErrorCode, OpError, type OpContext } from '../errors.ts';

/** How often at most a descriptor-exhaustion warning is emitted, per server. */
export const DESCRIPTOR_WARNING_INTERVAL = 1000;

/** Whether an accept error means the process or the system is out of descriptors. */
export function isDescriptorExhaustion(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/** Turns a stream of EMFILE/ENFILE accept failures into at most one warning per interval. @internal */
export class AcceptFailures {
  readonly #interval: number;
  readonly #now: () => number;
  #lastWarning = -Infinity;
  #unreported = 0;
  #total = 0;

  constructor(interval = DESCRIPTOR_WARNING_INTERVAL, now: () => number = Date.now) {
    this.#interval = interval;
    this.#now = now;
  }

  /** Accept failures for lack of descriptors since the server started. */
  get total(): number {
    return this.#total;
  }

  /** Records one failure; returns the warning to emit, or undefined within the quiet interval. */
  descriptorsExhausted(context: OpContext, cause: unknown): OpError | undefined {
    this.#total++;
    this.#unreported++;
    const now = this.#now();
    if (now - this.#lastWarning < this.#interval) return undefined;
    const count = this.#unreported;
    this.#lastWarning = now;
    this.#unreported = 0;
    const what = (cause as NodeJS.ErrnoException).code === 'ENFILE' ? 'the system is out of file descriptors' : 'the process is out of file descriptors';
    const tally = count > 1 ? `; ${count} connections refused since the last warning` : '';
    // SWB_ERR_SOCKET with `syscallCode` EMFILE or ENFILE: the system error says exactly what ran out.
    return new OpError(context, ErrorCode.SOCKET, `${what}: pending connections are reset until sessions close${tally}`, cause);
  }
}
