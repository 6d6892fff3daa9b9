import { CodecError } from './codec-error.ts';
import { ErrorCode } from '../core/errors.ts';

/**
 * Remembers why a codec stopped so that every later call fails the same way until `reset()`:
 * after a throw the buffered state is no longer trustworthy.
 */
export class FailureLatch {
  #failure: CodecError | undefined;

  constructor() {
    this.#failure = undefined;
  }

  /** @throws {CodecError} the recorded failure, if any. */
  assertUsable(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Records `error` (wrapping anything that is not a CodecError, such as a throw from `onFrame`) and returns it for rethrowing. */
  record(error: unknown): unknown {
    this.#failure =
      error instanceof CodecError
        ? error
        : new CodecError(ErrorCode.BAD_FRAME, 'decoding was interrupted by an exception; call reset() before reuse', {
            cause: error,
          });
    return error;
  }

  clear(): void {
    this.#failure = undefined;
  }
}
