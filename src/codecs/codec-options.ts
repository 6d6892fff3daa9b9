/**
 * The codec factories' defaults, and the checks of core/options.ts read from an options record
 * by name (a `null` value reads as the default here, except for {@link oneOfOption}).
 */
import * as checks from '../core/options.ts';
import type { OptionNames } from '../core/options.ts';

/** The default cap on a line: 8 KiB, safe against untrusted peers. */
export const DEFAULT_MAX_LINE_LENGTH = 8 * 1024;

/** The default cap on a frame: 8 MiB, as in tokio-util's `LengthDelimitedCodec`. */
export const DEFAULT_MAX_FRAME_LENGTH = 8 * 1024 * 1024;

/**
 * Options as a plain record; `undefined` reads as no options.
 * @param known the names the codec takes
 * @throws {InvalidOptionError} when `options` is not an object, or has a key `known` does not name.
 */
export function optionsRecord(options: unknown, known: OptionNames): Record<string, unknown> {
  return checks.optionsObject('options', options as object | undefined, known) as Record<string, unknown>;
}

/**
 * A length in bytes from 1 to the largest Buffer the runtime allows; without `fallback` the option is required.
 * @throws {InvalidOptionError} naming `name` when the value is outside that range.
 */
export function positiveLengthOption(options: Record<string, unknown>, name: string, fallback?: number): number {
  return checks.byteLengthOption(name, options[name] ?? undefined, fallback, 1);
}

/**
 * A count of bytes from 0 to the largest Buffer the runtime allows.
 * @throws {InvalidOptionError} naming `name` when the value is outside that range.
 */
export function nonNegativeLengthOption(options: Record<string, unknown>, name: string, fallback: number): number {
  return checks.byteLengthOption(name, options[name] ?? undefined, fallback, 0);
}

/**
 * Any integer JavaScript represents exactly, negative included.
 * @throws {InvalidOptionError} naming `name` otherwise.
 */
export function safeIntegerOption(options: Record<string, unknown>, name: string, fallback: number): number {
  return checks.safeIntegerOption(name, options[name] ?? undefined, fallback);
}

/**
 * A boolean flag.
 * @throws {InvalidOptionError} naming `name` for anything but `true`, `false` or `undefined`.
 */
export function booleanOption(options: Record<string, unknown>, name: string, fallback: boolean): boolean {
  return checks.booleanOption(name, options[name] ?? undefined, fallback);
}

/**
 * One of a fixed set of values. `null` is a value here, not a request for the default.
 * @throws {InvalidOptionError} naming `name` and listing `allowed` otherwise.
 */
export function oneOfOption<T>(options: Record<string, unknown>, name: string, allowed: readonly T[], fallback: T): T {
  return checks.oneOfOption(name, options[name], allowed, fallback);
}
