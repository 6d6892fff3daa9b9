/**
 * The limits a TCP server applies to peers -- admission, output, deadlines -- with their
 * defaults (docs/limits.md gives the reasoning for each).
 */
import { constants } from 'node:buffer';
import { InvalidOptionError } from '../core/errors.ts';
import { durationOption, integerOption, numberOption, optionNames, optionsObject, type OptionKeyRecord } from '../core/options.ts';
import { compileAddressList, type AddressList } from '../limits/access-rules.ts';

/** The default cap on a session's queued output: 1 MiB, sixteen times Node's 64 KiB write watermark. */
export const DEFAULT_MAX_BUFFERED_OUTPUT = 1024 * 1024;

/** How long the `accept` handler may take to answer before its connection is refused: 10 s. */
export const DEFAULT_ACCEPT_TIMEOUT = 10_000;

/** The longest `busyMessage` accepted: small enough to fit any socket send buffer at once. */
export const MAX_BUSY_MESSAGE_LENGTH = 4096;

/** The limits `server.throttle()` changes at runtime. 0 means no limit. */
export interface ThrottleLimits {
  /** Sessions open at once. @default 0 (bounded only by the descriptor limit) */
  maxConnections?: number;
  /** Sessions open at once from one address (or one IPv6 prefix, see `perAddressIPv6Prefix`). @default 0 */
  maxConnectionsPerAddress?: number;
  /** New sessions per second, averaged by a token bucket. @default 0 */
  acceptRate?: number;
  /** How many sessions may open at once before `acceptRate` applies; 0 = one second's worth. @default 0 */
  acceptBurst?: number;
}

/** Options of a TCP server that bound what peers can take (docs/limits.md). */
export interface LimitOptions extends ThrottleLimits {
  /**
   * How many leading bits of an IPv6 peer address count as one address for
   * `maxConnectionsPerAddress`: 64 counts a whole /64 (one host's usual allocation) as one peer.
   * IPv4-mapped IPv6 peers always count as their IPv4 address.
   * @default 128
   */
  perAddressIPv6Prefix?: number;
  /** Sent to a peer refused for a limit or while suspended, just before the connection closes (<= 4096 bytes). @default none */
  busyMessage?: string | Uint8Array;
  /** Only peers matching these addresses and CIDR prefixes are admitted. @default everyone */
  allow?: AddressList;
  /** Peers matching these addresses and CIDR prefixes are refused. @default no one */
  deny?: AddressList;
  /**
   * A session whose queued output is above this many bytes when it writes again is closed with
   * `SWB_ERR_OUTPUT_OVERFLOW` (a peer that never reads). 0 disables the cap.
   * @default 1048576 (1 MiB)
   */
  maxBufferedOutput?: number;
  /** Per-session buffer size at which `write()` returns false (and reading pauses). @default Node's (64 KiB) */
  highWaterMark?: number;
  /**
   * How long an async `accept` handler may take to answer, in ms; past it the connection is
   * refused (`accept-timeout`) and the handler's signal aborts. 0 disables (a pending connection
   * still holds its slot in the limits, and `close()` and `destroy()` still end it).
   * @default 10000
   */
  acceptTimeout?: number;
  /** Close a session that sends nothing within this many ms of opening; 0 disables. @default 0 */
  firstByteTimeout?: number;
  /** Close a session this many ms after it opened, whatever it is doing; 0 disables. @default 0 */
  maxLifetime?: number;
}

const THROTTLE_KEYS: OptionKeyRecord<ThrottleLimits> = { maxConnections: true, maxConnectionsPerAddress: true, acceptRate: true, acceptBurst: true };
const THROTTLE_OPTION_NAMES = optionNames<ThrottleLimits>(THROTTLE_KEYS);

/** Every key of {@link LimitOptions}, for the names of the options that include them. @internal */
export const LIMIT_OPTION_KEYS: OptionKeyRecord<LimitOptions> = {
  ...THROTTLE_KEYS,
  perAddressIPv6Prefix: true,
  busyMessage: true,
  allow: true,
  deny: true,
  maxBufferedOutput: true,
  highWaterMark: true,
  acceptTimeout: true,
  firstByteTimeout: true,
  maxLifetime: true,
};

/** Throttle limits after checking. @internal */
export interface NormalizedThrottleLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
  readonly acceptRate: number;
  readonly acceptBurst: number;
}

/** Limit options after checking, with defaults applied. @internal */
export interface NormalizedLimitOptions {
  readonly throttle: NormalizedThrottleLimits;
  readonly perAddressIPv6Prefix: number;
  readonly busyMessage: Buffer | undefined;
  readonly allow: AddressList | undefined;
  readonly deny: AddressList | undefined;
  readonly maxBufferedOutput: number;
  readonly highWaterMark: number | undefined;
  readonly acceptTimeout: number;
  readonly firstByteTimeout: number;
  readonly maxLifetime: number;
}

/**
 * Checks the argument of `throttle()`, starting from `current` for the limits left out.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the limit and its constraint, or a key that is not a limit
 */
export function normalizeThrottleLimits(input: ThrottleLimits, current: NormalizedThrottleLimits = NO_LIMITS): NormalizedThrottleLimits {
  return throttleLimits(optionsObject('limits', input, THROTTLE_OPTION_NAMES), current);
}

function throttleLimits(input: ThrottleLimits, current: NormalizedThrottleLimits): NormalizedThrottleLimits {
  return {
    maxConnections: integerOption('maxConnections', input.maxConnections, current.maxConnections, 0),
    maxConnectionsPerAddress: integerOption('maxConnectionsPerAddress', input.maxConnectionsPerAddress, current.maxConnectionsPerAddress, 0),
    acceptRate: numberOption('acceptRate', input.acceptRate, current.acceptRate),
    acceptBurst: integerOption('acceptBurst', input.acceptBurst, current.acceptBurst, 0),
  };
}

/**
 * Checks the limit options of a server and applies defaults.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` naming the option and its constraint
 */
export function normalizeLimitOptions(options: LimitOptions): NormalizedLimitOptions {
  compileAddressList('allow', options.allow); // validate now; the server compiles its own copy
  compileAddressList('deny', options.deny);
  return {
    throttle: throttleLimits(options, NO_LIMITS),
    perAddressIPv6Prefix: integerOption('perAddressIPv6Prefix', options.perAddressIPv6Prefix, 128, 1, 128),
    busyMessage: busyMessageOption(options.busyMessage),
    allow: options.allow,
    deny: options.deny,
    maxBufferedOutput: integerOption('maxBufferedOutput', options.maxBufferedOutput, DEFAULT_MAX_BUFFERED_OUTPUT, 0),
    highWaterMark: options.highWaterMark === undefined ? undefined : integerOption('highWaterMark', options.highWaterMark, 0, 1, constants.MAX_LENGTH),
    acceptTimeout: durationOption('acceptTimeout', options.acceptTimeout, DEFAULT_ACCEPT_TIMEOUT),
    firstByteTimeout: durationOption('firstByteTimeout', options.firstByteTimeout, 0),
    maxLifetime: durationOption('maxLifetime', options.maxLifetime, 0),
  };
}

const NO_LIMITS: NormalizedThrottleLimits = { maxConnections: 0, maxConnectionsPerAddress: 0, acceptRate: 0, acceptBurst: 0 };

function busyMessageOption(value: unknown): Buffer | undefined {
  if (value === undefined) return undefined;
  let bytes: Buffer;
  if (typeof value === 'string') bytes = Buffer.from(value);
  else if (value instanceof Uint8Array) bytes = Buffer.from(value); // a copy: the caller may reuse theirs
  else throw new InvalidOptionError('busyMessage', 'must be a string or a Uint8Array', value);
  if (bytes.length > MAX_BUSY_MESSAGE_LENGTH) {
    throw new InvalidOptionError('busyMessage', `must be at most ${MAX_BUSY_MESSAGE_LENGTH} bytes`, bytes.length);
  }
  return bytes.length === 0 ? undefined : bytes;
}
