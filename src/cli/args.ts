/**
 * Command-line parsing on `node:util` `parseArgs`: its errors become usage errors that name the
 * flag, and option values (durations, counts) are checked here, once.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './exit-code.ts';

/** The flags every command shares. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  'drain-timeout': { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/** The flags of every command that serves TCP sessions. */
export const SERVER_OPTIONS = {
  ...COMMON_OPTIONS,
  listen: { type: 'string', short: 'l', multiple: true },
  'idle-timeout': { type: 'string' },
  'max-clients': { type: 'string' },
  'max-per-ip': { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/** The UDP limit flags of `serve`, the one command with UDP servers. */
export const UDP_OPTIONS = {
  'udp-rate': { type: 'string' },
  'udp-reply-rate': { type: 'string' },
} as const satisfies ParseArgsOptionsConfig;

/**
 * Parses `args` for `command`; unknown flags, missing values and stray positionals are
 * usage errors naming the flag.
 * @throws {UsageError}
 */
export function parseCommandLine<T extends ParseArgsOptionsConfig>(command: string, args: readonly string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args: attachNegativeValues(args, options), options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(describeParseError(error), command);
  }
}

/** The flags of `options` that take a value, as written (`--listen`, `-l`), each to its long name. */
export function valueFlags(options: ParseArgsOptionsConfig): Map<string, string> {
  const flags = new Map<string, string>();
  for (const [name, option] of Object.entries(options)) {
    if (option.type !== 'string') continue;
    flags.set(`--${name}`, name);
    if (option.short !== undefined) flags.set(`-${option.short}`, name);
  }
  return flags;
}

/**
 * `parseArgs` reads the `-1` of `--max-clients -1` as a flag and reports the value missing: a
 * flag that takes a value, followed by what looks like a negative number, gets it as its value
 * (`--max-clients=-1`), so the value's own check names the constraint.
 */
function attachNegativeValues(args: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const longName = valueFlags(options);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = longName.get(arg);
    const next = args[i + 1];
    if (name !== undefined && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  // Messages quote the flag as '--listen', '-l, --listen <value>' or '-x': name the long form.
  const flag = /(--[\w-]+)/.exec(message)?.[1] ?? /'(-[^' =,]+)/.exec(message)?.[1];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return message.includes('does not take an argument') ? `flag ${flag} takes no value` : `flag ${flag} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? message}`;
    default:
      return message;
  }
}

/**
 * Reads a duration: `10` and `10s` are seconds, `500ms`, `2m`, `1h`; `0` means none.
 * @throws {UsageError} naming the flag
 */
export function parseDuration(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a duration such as 10s, 500ms, 2m or 0`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(Number(match[1]) * scale);
  if (ms > 2 ** 31 - 1) throw new UsageError(`${flag} ${JSON.stringify(text)}: at most 24 days`);
  return ms;
}

/**
 * Reads a non-negative integer; `0` means no limit where the flag says so.
 * @throws {UsageError} naming the flag
 */
export function parseCount(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text.trim())) throw new UsageError(`${flag} ${JSON.stringify(text)}: must be a non-negative integer (0 for no limit)`);
  return Number(text);
}

/**
 * Reads a rate of datagrams: `50/s`, or `50` (per second); `0` means no limit.
 * @throws {UsageError} naming the flag
 */
export function parseDatagramRate(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const match = /^(\d{1,9})(?:\/s)?$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected datagrams per second such as 50/s (0 for no limit)`);
  return Number(match[1]);
}

const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, kB: 1000, KB: 1000, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/**
 * Reads a rate of bytes: `65536`, `64KiB/s`, `1MB/s` (kB, MB, GB are powers of 1000; KiB, MiB,
 * GiB of 1024; `/s` may be left out); `0` means no limit. Bits (`Mb`, `kbit`) are refused: the
 * limit counts bytes.
 * @throws {UsageError} naming the flag
 */
export function parseByteRate(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)(?:\/s)?$/.exec(text.trim());
  const scale = match ? BYTE_UNITS[match[2]!] : undefined;
  const bytes = match && scale !== undefined ? Math.round(Number(match[1]) * scale) : NaN;
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected bytes per second such as 65536, 64KiB/s or 1MB/s (0 for no limit)`);
  return bytes;
}

/** `64KiB/s`, `1MiB/s`, `100B/s` — the inverse of {@link parseByteRate} for binary multiples, for messages. */
export function formatByteRate(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [unit, scale] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}/s`;
  }
  return `${bytes}B/s`;
}

/** `10s`, `500ms`, `2m` — the inverse of {@link parseDuration}, for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
