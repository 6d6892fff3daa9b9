/**
 * Command-line parsing on `node:util` `parseArgs`: its errors become usage errors that name the
 * flag, and option values (durations, counts) are checked here, once.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './exit-code.ts';
import { flagOptions } from './settings.ts';

export { formatByteRate, formatDuration, parseByteRate, parseByteSize, parseCount, parseDatagramRate, parseDuration, parseAddressEntry } from './values.ts';

/** The flags every command shares (their entries are in settings.ts). */
export const COMMON_OPTIONS = flagOptions(['json', 'quiet', 'verbose', 'help', 'version', 'drain-timeout']);

/** The flags of every command that serves TCP sessions. */
export const SERVER_OPTIONS = {
  ...COMMON_OPTIONS,
  ...flagOptions(['listen', 'idle-timeout', 'first-byte-timeout', 'max-lifetime', 'max-clients', 'max-per-ip', 'accept-rate', 'max-output', 'allow', 'deny']),
} as const satisfies ParseArgsOptionsConfig;

/** The UDP limit flags of `serve`, the one command with UDP servers. */
export const UDP_OPTIONS = flagOptions(['udp-rate', 'udp-reply-rate']);

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

