/**
 * What both servers do with user handlers: check a handler object's callback names when the
 * server is built, and wrap what a handler throws in one `SWB_ERR_HANDLER_FAILED` error.
 */
import { ErrorCode, InvalidOptionError, SwitchboardError } from '../core/errors.ts';
import { nearestName } from '../core/nearest-name.ts';

/**
 * The error for a handler (or listener) that threw or rejected: `SWB_ERR_HANDLER_FAILED`,
 * `${what}: ${the thrown message}`, with the thrown value as `cause`.
 * @example
 * handlerFailure(`data handler of session ${id} failed`, thrown);
 */
export function handlerFailure(what: string, thrown: unknown): SwitchboardError {
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return new SwitchboardError(ErrorCode.HANDLER_FAILED, `${what}: ${message}`, { cause: thrown });
}

/**
 * Checks a handler object's own callbacks: every function-valued key must be one of `callbacks`
 * (a misspelt `dta` would otherwise be silently never called), and a callback given must be a
 * function. Other values (state kept on the object) and symbol keys are left alone; so are
 * methods on a class's prototype, which may be the handler's own helpers.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the key, and the nearest callback when one is close
 */
export function checkHandlerCallbacks(handler: object, callbacks: readonly string[]): void {
  for (const key of Object.keys(handler)) {
    const value = (handler as Record<string, unknown>)[key];
    if (callbacks.includes(key)) {
      if (value !== undefined && typeof value !== 'function') throw new InvalidOptionError(`handler.${key}`, 'must be a function', value);
      continue;
    }
    if (typeof value !== 'function') continue;
    const nearest = nearestName(key, callbacks);
    const hint = nearest === undefined ? `one of ${callbacks.map((name) => `\`${name}\``).join(', ')}` : `did you mean \`${nearest}\`?`;
    throw new InvalidOptionError(`handler.${key}`, `is not a handler callback (${hint})`, value);
  }
}
