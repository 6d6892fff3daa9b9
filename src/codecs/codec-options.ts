/**
 * Option normalisation shared by the codec factories: every check names the option and its
 * constraint, so bad configuration fails at construction with an `InvalidOptionError`.
 */
import { constants } from 'node:buffer';
import { InvalidOptionError } from '../core/errors.ts';

/** The default cap on a line: 8 KiB, safe against untrusted peers. */
export const DEFAULT_MAX_LINE_LENGTH = 8 * 1024;

/** The default cap on a frame: 8 MiB, as in tokio-util's `LengthDelimitedCodec`. */
export const DEFAULT_MAX_FRAME_LENGTH = 8 * 1024 * 1024;

/**
 * Options as a plain record; `undefined` reads as no options.
 * @throws {InvalidOptionError} when `options` is not an object.
 */
export function optionsRecord(options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError('options', 'must be an object', options);
  }
  return options as Record<string, unknown>;
}

/**
 * A length in bytes from 1 to the largest Buffer the runtime allows; without `fallback` the option is required.
 * @throws {InvalidOptionError} naming `name` when the value is outside that range.
 */
export function positiveLengthOption(options: Record<string, unknown>, name: string, fallback?: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(name, 'must be a positive integer', value);
  }
  if (value > constants.MAX_LENGTH) {
    throw new InvalidOptionError(name, `must be at most ${constants.MAX_LENGTH}`, value);
  }
  return value;
}

/**
 * A count of bytes from 0 to the largest Buffer the runtime allows.
 * @throws {InvalidOptionError} naming `name` when the value is outside that range.
 */
export function nonNegativeLengthOption(options: Record<string, unknown>, name: string, fallback: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidOptionError(name, 'must be a non-negative integer', value);
  }
  if (value > constants.MAX_LENGTH) {
    throw new InvalidOptionError(name, `must be at most ${constants.MAX_LENGTH}`, value);
  }
  return value;
}

/**
 * Any integer JavaScript represents exactly, negative included.
 * @throws {InvalidOptionError} naming `name` otherwise.
 */
export function safeIntegerOption(options: Record<string, unknown>, name: string, fallback: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidOptionError(name, 'must be a safe integer', value);
  }
  return value;
}

/**
 * A boolean flag.
 * @throws {InvalidOptionError} naming `name` for anything but `true`, `false` or `undefined`.
 */
export function booleanOption(options: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = options[name] ?? fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, 'must be a boolean', value);
  return value;
}

/**
 * One of a fixed set of values. `null` is a value here, not a request for the default.
 * @throws {InvalidOptionError} naming `name` and listing `allowed` otherwise.
 */
export function oneOfOption<T>(options: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  const value = options[name] === undefined ? fallback : options[name];
  if (!allowed.includes(value as T)) {
    const list = allowed.map((item) => (typeof item === 'string' ? JSON.stringify(item) : String(item)));
    throw new InvalidOptionError(name, `must be one of ${list.join(', ')}`, value);
  }
  return value as T;
}
