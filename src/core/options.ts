/**
 * Option checks shared by every part of the library -- servers, limits, codecs, framing, TLS:
 * each throws {@link InvalidOptionError} naming the option and its constraint, so bad
 * configuration fails at construction, never later. Options bags refuse keys they do not know.
 */
import { constants } from 'node:buffer';
import { ErrorCode, InvalidOptionError, SwitchboardError, unknownOptionError } from './errors.ts';
import { nearestName } from './nearest-name.ts';
import { supportsReusePort } from './platform.ts';

/** An integer in `[min, max]`, or `fallback` when the value is undefined. */
export function integerOption(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? 'a non-negative integer' : `an integer >= ${min}`) : `an integer from ${min} to ${max}`;
    throw new InvalidOptionError(name, `must be ${range}`, value);
  }
  return value;
}

/**
 * A count of bytes from `min` (0 or 1) to the largest Buffer the runtime allows; with `fallback`
 * undefined the option is required.
 */
export function byteLengthOption(name: string, value: unknown, fallback: number | undefined, min: 0 | 1): number {
  const length = value === undefined ? fallback : value;
  if (typeof length !== 'number' || !Number.isInteger(length) || length < min) {
    throw new InvalidOptionError(name, min === 1 ? 'must be a positive integer' : 'must be a non-negative integer', length);
  }
  if (length > constants.MAX_LENGTH) throw new InvalidOptionError(name, `must be at most ${constants.MAX_LENGTH}`, length);
  return length;
}

/** Any integer JavaScript represents exactly, negative included. */
export function safeIntegerOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new InvalidOptionError(name, 'must be a safe integer', value);
  return value;
}

/** A non-negative duration in milliseconds; 0 conventionally means "no limit". */
export function durationOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(name, 'must be a non-negative number of milliseconds', value);
  }
  return value;
}

/** A non-negative finite number (a rate, a factor). */
export function numberOption(name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(name, `must be a finite number >= ${min}`, value);
  }
  return value;
}

/** A boolean, or `fallback` when undefined. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean;
export function booleanOption(name: string, value: unknown, fallback: undefined): boolean | undefined;
export function booleanOption(name: string, value: unknown, fallback: boolean | undefined): boolean | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, 'must be a boolean', value);
  return value;
}

/** One of a fixed set of values, or `fallback` when undefined; `null` is a value here, not a request for the default. */
export function oneOfOption<T>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    const list = allowed.map((item) => (typeof item === 'string' ? JSON.stringify(item) : String(item)));
    throw new InvalidOptionError(name, `must be one of ${list.join(', ')}`, value);
  }
  return value as T;
}

/** A function, or undefined. */
export function functionOption<F extends (...args: never[]) => unknown>(name: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new InvalidOptionError(name, 'must be a function', value);
  return value;
}

/** A TCP/UDP port: an integer from 0 (any free port) to 65535. */
export function portOption(value: unknown): number {
  return integerOption('port', value, 0, 0, 65535);
}

/**
 * The `reusePort` flag of a TCP or UDP server.
 * @throws {SwitchboardError} `SWB_ERR_REUSE_PORT_UNSUPPORTED` when it is asked for where SO_REUSEPORT is missing
 */
export function reusePortOption(value: unknown): boolean {
  const reusePort = booleanOption('reusePort', value, false);
  if (reusePort && !supportsReusePort()) {
    throw new SwitchboardError(ErrorCode.REUSE_PORT_UNSUPPORTED, `\`reusePort\` needs Node >= 22.12 on Linux; this is Node ${process.versions.node} on ${process.platform}`);
  }
  return reusePort;
}

/** An `AbortSignal` or undefined. */
export function signalOption(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new InvalidOptionError('signal', 'must be an AbortSignal', value);
  return value;
}

/** One `true` per key of the options bag `T`, every key listed (the input of {@link optionNames}). */
export type OptionKeyRecord<T extends object> = { readonly [K in keyof Required<T>]: true };

/** The names an options bag takes, made by {@link optionNames}. */
export interface OptionNames {
  /** Every valid name, in the order they were declared. */
  readonly names: readonly string[];
  /** How the bag's keys are named in messages: `''` for a function's own options, `rateLimit.` inside `rateLimit`. */
  readonly prefix: string;
  has(name: string): boolean;
}

/**
 * The names of an options bag `T`, from a record with one `true` per name: the compiler refuses
 * a record that leaves a key of `T` out or adds one `T` lacks, so the list cannot drift.
 * @param within the option holding the bag (`rateLimit`), when it is nested
 * @example
 * const CLOSE_OPTIONS = optionNames<CloseOptions>({ timeout: true });
 */
export function optionNames<T extends object>(record: OptionKeyRecord<T>, within?: string): OptionNames {
  const names = Object.freeze(Object.keys(record));
  const set: ReadonlySet<string> = new Set(names);
  return { names, prefix: within === undefined ? '' : `${within}.`, has: (name) => set.has(name) };
}

/** The first own enumerable key of `options` that `known` does not name, or undefined. */
export function findUnknownKey(options: object, known: OptionNames): string | undefined {
  for (const key in options) {
    if (Object.hasOwn(options, key) && !known.has(key)) return key;
  }
  return undefined;
}

/**
 * Throws for the first key of `options` that `known` does not name, with the nearest valid name:
 * `` unknown option "idleTimeOut" (did you mean "idleTimeout"?) ``.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION`, `option` being the unknown name (with the bag's prefix)
 */
export function rejectUnknownKeys(options: object, known: OptionNames): void {
  const key = findUnknownKey(options, known);
  if (key === undefined) return;
  const nearest = nearestName(key, known.names);
  throw unknownOptionError(known.prefix + key, nearest === undefined ? undefined : known.prefix + nearest);
}

/**
 * Rejects anything but a plain object (or undefined) as an options bag; given `known`, also any
 * key it does not name.
 * @param name the bag in messages (`options`, `rateLimit`)
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION`
 */
export function optionsObject<T extends object>(name: string, value: T | undefined, known?: OptionNames): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(name, 'must be an object', value);
  }
  if (known !== undefined) rejectUnknownKeys(value, known);
  return value;
}
