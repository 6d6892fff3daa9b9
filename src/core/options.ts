/**
 * Option checks shared by every server: each throws {@link InvalidOptionError} naming the
 * option and its constraint, so bad configuration fails at construction, never later.
 */
import { InvalidOptionError } from './errors.ts';

/** An integer in `[min, max]`, or `fallback` when the value is undefined. */
export function integerOption(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? 'a non-negative integer' : `an integer >= ${min}`) : `an integer from ${min} to ${max}`;
    throw new InvalidOptionError(name, `must be ${range}`, value);
  }
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

/** A TCP/UDP port: an integer from 0 (any free port) to 65535. */
export function portOption(value: unknown): number {
  return integerOption('port', value, 0, 0, 65535);
}

/** An `AbortSignal` or undefined. */
export function signalOption(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new InvalidOptionError('signal', 'must be an AbortSignal', value);
  return value;
}

/** Rejects anything but a plain object (or undefined) as an options bag. */
export function optionsObject<T extends object>(name: string, value: T | undefined): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(name, 'must be an object', value);
  }
  return value;
}
