/**
 * The error of socket activation: a stable code plus the fd and the name the service manager
 * gave it, so that a message and a handler can both say which socket was wrong.
 */
import { SwitchboardError, type ErrorCode } from '../core/errors.ts';

/**
 * A passed socket could not be used as asked (`SWB_ERR_ACTIVATION_*`).
 * @example
 * if (err instanceof ActivationError && err.code === 'SWB_ERR_ACTIVATION_FD_TYPE') console.error(err.fd, err.fdName);
 */
export class ActivationError extends SwitchboardError {
  /** The fd concerned, when one is. */
  declare readonly fd: number | undefined;
  /** The name the service manager gave that fd (`FileDescriptorName=`, `--fdname`), when one is concerned. */
  declare readonly fdName: string | undefined;

  constructor(code: ErrorCode, message: string, where: { fd?: number; fdName?: string; cause?: unknown } = {}) {
    super(code, message, where.cause === undefined ? undefined : { cause: where.cause });
    this.fd = where.fd;
    this.fdName = where.fdName;
  }
}
