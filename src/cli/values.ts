/**
 * The value syntaxes of the command's settings -- durations, counts, rates, byte sizes, address
 * lists -- read from a flag's text or a TOML value's text alike: pure functions over strings,
 * each error naming where the value came from (`--idle-timeout`, `services.chat.idle-timeout:`).
 */
import { compileAddressList } from '../limits/access-rules.ts';
import { UsageError } from './exit-code.ts';

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

/** `64KiB/s`, `1MiB/s`, `100B/s` -- the inverse of {@link parseByteRate} for binary multiples, for messages. */
export function formatByteRate(bytes: number): string {
  if (bytes === 0) return '0';
  for (const [unit, scale] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}/s`;
  }
  return `${bytes}B/s`;
}

/** `10s`, `500ms`, `2m` -- the inverse of {@link parseDuration}, for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * Reads a size in bytes: `1048576`, `64KiB`, `1MB` (units as {@link parseByteRate}, without `/s`); `0` means no limit.
 * @throws {UsageError} naming the flag
 */
export function parseByteSize(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(text.trim());
  const scale = match ? BYTE_UNITS[match[2]!] : undefined;
  const bytes = match && scale !== undefined ? Math.round(Number(match[1]) * scale) : NaN;
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected bytes such as 1048576, 64KiB or 1MB (0 for no limit)`);
  return bytes;
}

/**
 * Checks one entry of an allow or deny list: an IP address or a CIDR prefix (`192.0.2.0/24`,
 * `2001:db8::/32`), as the library's `allow` and `deny` options take them.
 * @throws {UsageError} naming the flag
 */
export function parseAddressEntry(text: string, flag: string): string {
  try {
    compileAddressList('allow', [text]);
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: expected an IP address or a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32`);
  }
  return text.trim();
}
