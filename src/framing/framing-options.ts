/**
 * Options of a framed handler, and the checks shared by the framing module.
 */
import { durationOption, optionNames, optionsObject } from '../core/options.ts';

/** The default partial-frame deadline: 30 s from a frame's first byte to its last. */
export const DEFAULT_PARTIAL_FRAME_TIMEOUT = 30_000;

/** Options of {@link framed}. */
export interface FramingOptions {
  /**
   * A frame whose first bytes have arrived must be complete within this many ms (counted while
   * the session is reading, not while a handler holds it up), else the session closes with
   * `SWB_ERR_DEADLINE_EXCEEDED` — a slowloris peer sending a byte every few seconds. 0 disables.
   * @default 30000
   */
  partialFrameTimeout?: number;
}

const FRAMING_OPTIONS = optionNames<FramingOptions>({ partialFrameTimeout: true });

/** Framing options after checking. @internal */
export interface NormalizedFramingOptions {
  readonly partialFrameTimeout: number;
}

/**
 * Checks framing options and applies defaults.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the option and its constraint
 */
export function normalizeFramingOptions(input: FramingOptions | undefined): NormalizedFramingOptions {
  const options = optionsObject('options', input, FRAMING_OPTIONS);
  return { partialFrameTimeout: durationOption('partialFrameTimeout', options.partialFrameTimeout, DEFAULT_PARTIAL_FRAME_TIMEOUT) };
}
