/**
 * Every setting of the command, once: its flag, its key in `switchboard.toml`, the syntax of its
 * value, its default and its help line, and which commands and services have it. The flag
 * parser (`parseArgs` option configs), the flag readers, the config-file loader and the
 * published JSON Schema (switchboard.schema.json) are all derived from this table, so a flag
 * and its key cannot drift apart. docs/config.md says how to add one.
 */
import type { ParseArgsOptionsConfig } from 'node:util';
import { DEFAULT_DRAIN_TIMEOUT, EXEC_DEFAULTS, RUN_DEFAULTS, SERVE_DEFAULTS, SERVE_UDP_DEFAULTS } from './defaults.ts';
import { UsageError } from './exit-code.ts';
import { parseListenAddress } from './listen-address.ts';
import { formatByteRate, formatDuration, parseAddressEntry, parseByteRate, parseByteSize, parseCount, parseDatagramRate, parseDuration } from './values.ts';

/** A TOML value as smol-toml returns it. */
export type TomlValue = string | number | bigint | boolean | Date | readonly TomlValue[] | { readonly [key: string]: TomlValue } | object;
/** A JSON Schema fragment. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** How one value is read: from a flag's text, and from a TOML value (whose text it reads the same way). */
export interface ValueSyntax<T = unknown> {
  /** For docs/config.md: `duration`, `integer`, ... */
  readonly name: string;
  /** Reads a flag's text; `label` starts the error message (`--idle-timeout`, `services.chat.idle-timeout:`). @throws {UsageError} */
  readonly read: (text: string, label: string) => T;
  /** What a TOML value should be, for a wrong type: `a duration such as "10s" (or seconds)`. */
  readonly expected: string;
  /** The TOML types one value may have; integers and floats are read as their text. */
  readonly toml: readonly ('string' | 'integer' | 'float' | 'boolean' | 'table')[];
  readonly jsonSchema: JsonSchema;
  /** Reads a TOML value of a type other than string, integer and float (a table). */
  readonly fromToml?: (value: TomlValue, label: string) => T;
}

/** The commands that have flags. */
export type CommandName = 'serve' | 'exec' | 'run' | 'up' | 'check' | 'reload' | 'upgrade';
/** The kinds of service a config file lists: `builtin = "echo"`, `program = "cat"`, `module = "chat.ts"`. */
export type ServiceKind = 'builtin' | 'exec' | 'run';
export const SERVICE_KINDS: readonly ServiceKind[] = ['builtin', 'exec', 'run'];

/** One setting. Flags are `--NAME` where NAME is the entry's name in {@link SETTINGS}. */
export interface Setting {
  /** The `parseArgs` type of the flag. */
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** The TOML key; null for a flag with no key ({@link FLAGS_WITHOUT_KEYS} says why). */
  readonly key: string | null;
  /** `[global]`, or each `[services.NAME]` table. */
  readonly scope: 'global' | 'service';
  /** The commands with the flag (empty: a key reserved for a flag still to come). */
  readonly commands: readonly CommandName[];
  /** For a service key: the kinds of service that take it. */
  readonly services?: readonly ServiceKind[];
  /** The syntax of the flag's value (and of the key's, unless {@link keySyntax}). */
  readonly syntax: ValueSyntax;
  /** The syntax of the key's value where it differs from the flag's (`log-format = "json"` for `--json`). */
  readonly keySyntax?: ValueSyntax;
  /** The flag's value in help: `D`, `N`, `FILE`. */
  readonly arg?: string;
  /** The default, as docs show it. */
  readonly default: string;
  readonly help: string;
}

const text = (name: string, jsonSchema: JsonSchema, read: (text: string, label: string) => unknown, expected = 'a string'): ValueSyntax => ({ name, read, expected, toml: ['string'], jsonSchema });
const numeric = (name: string, read: (text: string, label: string) => unknown, pattern: string, expected: string): ValueSyntax => ({
  name,
  read,
  expected,
  toml: ['string', 'integer', 'float'],
  jsonSchema: { anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern }] },
});

/** The syntaxes, by name. */
export const SYNTAX = {
  flag: { name: 'boolean', expected: 'true or false', read: () => true, toml: ['boolean'], jsonSchema: { type: 'boolean' } } satisfies ValueSyntax,
  duration: numeric('duration', (value, label) => parseDuration(value, label, 0), '^\\d+(\\.\\d+)?(ms|s|m|h)?$', 'a duration such as "10s" or "500ms" (or a number of seconds)'),
  count: { name: 'integer', expected: 'a non-negative integer', read: (value, label) => parseCount(value, label, 0), toml: ['integer'], jsonSchema: { type: 'integer', minimum: 0 } } satisfies ValueSyntax,
  datagramRate: numeric('datagrams/s', (value, label) => parseDatagramRate(value, label, 0), '^\\d+(/s)?$', 'datagrams per second such as "50/s" (or a number)'),
  byteRate: numeric('bytes/s', (value, label) => parseByteRate(value, label, 0), '^\\d+(\\.\\d+)?\\s*[A-Za-z]*(/s)?$', 'bytes per second such as "64KiB/s" (or a number)'),
  byteSize: numeric('bytes', (value, label) => parseByteSize(value, label, 0), '^\\d+(\\.\\d+)?\\s*[A-Za-z]*$', 'a size such as "1MiB" (or a number of bytes)'),
  address: text('address', { type: 'string' }, (value, label) => parseListenAddress(value, label), 'an address string such as "127.0.0.1:7000"'),
  addressEntry: text('address or prefix', { type: 'string' }, (value, label) => parseAddressEntry(value, label)),
  path: text('path', { type: 'string', minLength: 1 }, (value, label) => nonEmpty(value, label)),
  user: text('user', { type: 'string', minLength: 1 }, (value, label) => nonEmpty(value, label)),
  clientCert: text('required|optional', { enum: ['required', 'optional'] }, (value, label) => oneOf(value, label, ['required', 'optional'])),
  logFormat: text('text|json', { enum: ['text', 'json'] }, (value, label) => oneOf(value, label, ['text', 'json']) === 'json'),
  proxyUntrusted: text('refuse|direct', { enum: ['refuse', 'direct'] }, (value, label) => oneOf(value, label, ['refuse', 'direct'])),
  /** `--listen`'s value: an address, or `systemd:NAME` (the passed sockets of that fd name). */
  listen: text('address or systemd:NAME', { type: 'string' }, (value, label) => parseListenValue(value, label), 'an address string such as "127.0.0.1:7000", or "systemd:NAME"'),
  envAssignment: {
    name: 'NAME=VALUE',
    expected: 'a table of strings, such as { LANG = "C" }',
    read: (value, label) => readAssignment(value, label),
    toml: ['table'],
    jsonSchema: { type: 'object', additionalProperties: { type: 'string' } },
    fromToml: (value, label) => readEnvTable(value, label),
  } satisfies ValueSyntax,
} as const;

const SERVING: readonly CommandName[] = ['serve', 'exec', 'run'];
/** `workers = 4` or `workers = "auto"` in the file. */
const WORKER_COUNT_KEY: ValueSyntax = {
  name: 'N|auto',
  expected: 'auto or an integer from 1 to 1024',
  read: (value, label) => readWorkerCount(value, label),
  toml: ['string', 'integer'],
  jsonSchema: { anyOf: [{ type: 'integer', minimum: 1, maximum: 1024 }, { const: 'auto' }] },
};
const ALL_KINDS = SERVICE_KINDS;
const perCommand = (format: (defaults: typeof SERVE_DEFAULTS) => string): string =>
  `serve ${format(SERVE_DEFAULTS)}, exec ${format(EXEC_DEFAULTS)}, run ${format(RUN_DEFAULTS)}`;

/**
 * Every flag, by name (`--idle-timeout` is `'idle-timeout'`). To add one: an entry here, with
 * its key (or a line in {@link FLAGS_WITHOUT_KEYS}); the commands listed get the flag, the file
 * the key, the JSON Schema both; then read its value where the setting is used.
 */
export const SETTINGS = {
  // Output and shutdown: every command; the file's [global] section.
  json: { type: 'boolean', key: 'log-format', scope: 'global', commands: [...SERVING, 'up'], syntax: SYNTAX.flag, keySyntax: SYNTAX.logFormat, default: 'text', help: 'one JSON object per log line' },
  quiet: { type: 'boolean', short: 'q', key: 'quiet', scope: 'global', commands: [...SERVING, 'up'], syntax: SYNTAX.flag, default: 'false', help: 'print errors only' },
  verbose: { type: 'boolean', short: 'v', key: 'verbose', scope: 'global', commands: [...SERVING, 'up'], syntax: SYNTAX.flag, default: 'false', help: "a failing handler's stack under its error line (--json always has it)" },
  help: { type: 'boolean', short: 'h', key: null, scope: 'global', commands: [...SERVING, 'up', 'check', 'reload', 'upgrade'], syntax: SYNTAX.flag, default: '', help: 'this help' },
  version: { type: 'boolean', key: null, scope: 'global', commands: [...SERVING, 'up', 'check', 'reload', 'upgrade'], syntax: SYNTAX.flag, default: '', help: 'the version' },
  'drain-timeout': { type: 'string', key: 'drain-timeout', scope: 'global', commands: [...SERVING, 'up'], syntax: SYNTAX.duration, arg: 'D', default: formatDuration(DEFAULT_DRAIN_TIMEOUT), help: 'graceful close on SIGINT/SIGTERM waits this long' },
  'pid-file': { type: 'string', key: 'pid-file', scope: 'global', commands: ['up', 'reload', 'run', 'upgrade'], syntax: SYNTAX.path, arg: 'FILE', default: 'none', help: 'up, run: write the process id here (removed at exit); reload, upgrade: signal the process it names' },
  workers: { type: 'string', key: 'workers', scope: 'service', commands: ['run', 'up'], services: ['builtin', 'run'], syntax: text('N|auto', { anyOf: [{ type: 'integer', minimum: 1, maximum: 1024 }, { const: 'auto' }] }, (value, label) => readWorkerCount(value, label), 'auto or an integer from 1 to 1024'), keySyntax: WORKER_COUNT_KEY, arg: 'N|auto', default: 'none (one process)', help: 'serve from N worker processes (auto: one per CPU), supervised; up: for every built-in and module service without its own key (docs/workers.md)' },
  'metrics-per-worker': { type: 'boolean', key: 'metrics-per-worker', scope: 'global', commands: ['run', 'up'], syntax: SYNTAX.flag, default: 'false', help: 'with workers: a worker label on the metrics, one series per worker, instead of their sum' },
  metrics: { type: 'string', key: 'metrics', scope: 'global', commands: [...SERVING, 'up'], syntax: SYNTAX.address, arg: 'ADDRESS', default: 'none', help: 'serve /metrics, /healthz, /readyz and /status over HTTP on ADDRESS (:PORT is loopback)' },

  // Where and how each service listens.
  listen: { type: 'string', short: 'l', multiple: true, key: 'listen', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.listen, arg: 'ADDRESS', default: 'serve: localhost at 10000 + standard port; required otherwise', help: 'where to accept connections (repeatable)' },
  'idle-timeout': { type: 'string', key: 'idle-timeout', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.duration, arg: 'D', default: perCommand((d) => formatDuration(d.idleTimeout)), help: 'close a session after D without traffic' },
  'first-byte-timeout': { type: 'string', key: 'first-byte-timeout', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.duration, arg: 'D', default: '0', help: 'close a session that sent nothing within D' },
  'max-lifetime': { type: 'string', key: 'max-lifetime', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.duration, arg: 'D', default: '0', help: 'close a session D after it opened' },
  'max-clients': { type: 'string', key: 'max-clients', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.count, arg: 'N', default: perCommand((d) => String(d.maxClients)), help: 'open sessions at most' },
  'max-per-ip': { type: 'string', key: 'max-per-ip', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.count, arg: 'N', default: perCommand((d) => String(d.maxPerIp)), help: 'open sessions per remote address (an IPv6 /64) at most' },
  'accept-rate': { type: 'string', key: 'accept-rate', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.count, arg: 'N', default: '0', help: 'new sessions per second at most' },
  'max-output': { type: 'string', key: 'max-output', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.byteSize, arg: 'BYTES', default: '1MiB', help: 'close a session whose unsent output passes BYTES' },
  allow: { type: 'string', multiple: true, key: 'allow', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.addressEntry, arg: 'PREFIX', default: 'everyone', help: 'admit only peers in these addresses or CIDR prefixes (repeatable)' },
  deny: { type: 'string', multiple: true, key: 'deny', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.addressEntry, arg: 'PREFIX', default: 'no one', help: 'refuse peers in these addresses or CIDR prefixes (repeatable)' },

  // UDP: the built-in services.
  'udp-rate': { type: 'string', key: 'udp-rate', scope: 'service', commands: ['serve'], services: ['builtin'], syntax: SYNTAX.datagramRate, arg: 'N/s', default: `${SERVE_UDP_DEFAULTS.datagramsPerSecond}/s`, help: 'datagrams per second from one source, an IPv6 /64' },
  'udp-reply-rate': { type: 'string', key: 'udp-reply-rate', scope: 'service', commands: ['serve'], services: ['builtin'], syntax: SYNTAX.byteRate, arg: 'R', default: formatByteRate(SERVE_UDP_DEFAULTS.replyBytesPerSecond), help: 'reply bytes per second, all sources together, headers included' },
  quotes: { type: 'string', key: 'quotes', scope: 'service', commands: ['serve'], services: ['builtin'], syntax: SYNTAX.path, arg: 'FILE', default: 'built-in', help: 'qotd quotes: separated by lines holding only %, or by blank lines' },

  // TLS.
  'tls-cert': { type: 'string', key: 'tls-cert', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.path, arg: 'FILE', default: 'none', help: 'the certificate chain, PEM, leaf first' },
  'tls-key': { type: 'string', key: 'tls-key', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.path, arg: 'FILE', default: 'none', help: 'its private key, PEM' },
  'tls-ca': { type: 'string', key: 'tls-ca', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.path, arg: 'FILE', default: 'none', help: 'CA certificates that client certificates must chain to' },
  'tls-client-cert': { type: 'string', key: 'tls-client-cert', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.clientCert, arg: 'M', default: 'none', help: 'ask clients for a certificate: required or optional' },

  // The PROXY protocol (TCP only; src/cli/proxy-flags.ts).
  'proxy-protocol': { type: 'string', multiple: true, key: 'proxy-protocol', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.addressEntry, arg: 'FROM', default: 'none', help: 'connections from these addresses or CIDR prefixes begin with a PROXY v1/v2 header (repeatable)' },
  'proxy-untrusted': { type: 'string', key: 'proxy-untrusted', scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.proxyUntrusted, arg: 'P', default: 'refuse', help: 'connections from elsewhere: refuse, or direct (served as they are)' },

  // Under a service manager (src/cli/activation-flags.ts).
  'listen-fds': { type: 'boolean', key: null, scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.flag, default: 'false', help: 'serve every socket the service manager passed' },
  inetd: { type: 'boolean', key: null, scope: 'service', commands: SERVING, services: ALL_KINDS, syntax: SYNTAX.flag, default: 'false', help: 'serve the one connection on fds 0/1, then exit' },

  // exec's program.
  env: { type: 'string', multiple: true, key: 'env', scope: 'service', commands: ['exec'], services: ['exec'], syntax: SYNTAX.envAssignment, arg: 'NAME=VALUE', default: 'ours', help: "set a variable in PROGRAM's environment (repeatable)" },
  cwd: { type: 'string', key: 'cwd', scope: 'service', commands: ['exec'], services: ['exec'], syntax: SYNTAX.path, arg: 'DIR', default: 'ours', help: "PROGRAM's working directory" },
  user: { type: 'string', key: 'user', scope: 'service', commands: ['exec'], services: ['exec'], syntax: SYNTAX.user, arg: 'USER', default: 'ours', help: 'run PROGRAM as USER (a name or uid; only when started as root)' },
} as const satisfies Record<string, Setting>;

/** A flag's name. */
export type SettingName = keyof typeof SETTINGS;

/** The keys of a service table that are not flags: which service it is (a command's arguments on the command line). */
export const KEYS_WITHOUT_FLAGS = {
  builtin: { syntax: text('service', { enum: ['echo', 'discard', 'daytime', 'qotd', 'chargen', 'time'] }, (value) => value), services: ['builtin'], help: "one of serve's services: echo, discard, daytime, qotd, chargen, time (serve's SERVICE argument)" },
  program: { syntax: SYNTAX.path, services: ['exec'], help: "the program to run per connection (exec's PROGRAM)" },
  args: { syntax: text('string', { type: 'string' }, (value) => value), multiple: true, services: ['exec'], help: "its arguments (exec's ARGS)" },
  module: { syntax: SYNTAX.path, services: ['run'], help: "the handler module (run's MODULE), relative to the file's directory" },
  transports: { syntax: text('tcp|udp', { enum: ['tcp', 'udp'] }, (value, label) => oneOf(value, label, ['tcp', 'udp'])), multiple: true, services: ['builtin'], help: 'tcp, udp or both (serve always serves both)' },
} as const satisfies Record<string, { syntax: ValueSyntax; services: readonly ServiceKind[]; help: string; multiple?: boolean }>;

/** The flags with no key, and why. */
export const FLAGS_WITHOUT_KEYS: Readonly<Partial<Record<SettingName, string>>> = {
  help: 'prints help; not a setting',
  version: 'prints the version; not a setting',
  'listen-fds': 'every passed fd for one command; up gives each service its own fds by name (listen = ["systemd:NAME"])',
  inetd: 'one connection, then exit: one command per connection, not a long-running up',
};

type FlagConfig<S> = { readonly type: S extends { type: infer T } ? T : never } & (S extends { multiple: true } ? { readonly multiple: true } : unknown) &
  (S extends { short: infer C extends string } ? { readonly short: C } : unknown);

/**
 * The `parseArgs` options of the flags `names`, taken from the table.
 * @example
 * parseArgs({ args, options: flagOptions(['listen', 'idle-timeout']) });
 */
export function flagOptions<const N extends SettingName>(names: readonly N[]): { readonly [K in N]: FlagConfig<(typeof SETTINGS)[K]> } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const name of names) {
    const setting: Setting = SETTINGS[name];
    options[name] = { type: setting.type, ...(setting.multiple ? { multiple: true } : {}), ...(setting.short === undefined ? {} : { short: setting.short }) };
  }
  return options as ParseArgsOptionsConfig as { readonly [K in N]: FlagConfig<(typeof SETTINGS)[K]> };
}

/** The names of the flags `command` has, from the table. */
export function flagsOf(command: CommandName): SettingName[] {
  return (Object.keys(SETTINGS) as SettingName[]).filter((name) => (SETTINGS[name].commands as readonly string[]).includes(command));
}

/**
 * Reads flag `name`'s text with its syntax, or returns `fallback` when the flag was not given.
 * @throws {UsageError} naming the flag
 */
export function readFlag<T>(name: SettingName, value: string | undefined, fallback: T): T {
  if (value === undefined) return fallback;
  return (SETTINGS[name] as Setting).syntax.read(value, `--${name}`) as T;
}

/** Help lines for `names`: `      --idle-timeout D     close a session after D without traffic`. */
export function helpLines(names: readonly SettingName[], defaults: Partial<Record<SettingName, string>> = {}): string {
  return names
    .map((name) => {
      const setting: Setting = SETTINGS[name];
      const flag = `${setting.short === undefined ? '    ' : `-${setting.short}, `}--${name}${setting.arg === undefined ? '' : ` ${setting.arg}`}`;
      const fallback = defaults[name];
      const text = `${setting.help}${fallback === undefined ? '' : ` (default ${fallback})`}`;
      // The help column starts at 27, as in help.ts; a flag too long for it puts its text on the next line.
      return flag.length < 25 ? `  ${flag.padEnd(25)}${text}` : `  ${flag}\n${' '.repeat(27)}${text}`;
    })
    .join('\n');
}

/** An address, or `systemd:NAME` as `{ systemd: NAME }`. */
function parseListenValue(value: string, label: string): ReturnType<typeof parseListenAddress> | { readonly systemd: string; readonly text: string } {
  if (!value.startsWith('systemd:')) return parseListenAddress(value, label);
  const name = value.slice('systemd:'.length);
  if (!/^[^\s:]{1,255}$/.test(name)) throw new UsageError(`${label} ${JSON.stringify(value)}: expected systemd:NAME, NAME an fd name (FileDescriptorName=, --fdname) without ':' or spaces`);
  return { systemd: name, text: value };
}

function readWorkerCount(value: string, label: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  if (!/^[1-9]\d{0,3}$/.test(value) || Number(value) > 1024) throw new UsageError(`${label} ${JSON.stringify(value)}: must be auto or an integer from 1 to 1024`);
  return Number(value);
}

function nonEmpty(value: string, label: string): string {
  if (value.trim() === '') throw new UsageError(`${label} ${JSON.stringify(value)}: must not be empty`);
  return value;
}

function oneOf<const T extends string>(value: string, label: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`${label} ${JSON.stringify(value)}: must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`);
  return value as T;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function readAssignment(value: string, label: string): [string, string] {
  const at = value.indexOf('=');
  const name = at === -1 ? '' : value.slice(0, at);
  if (!ENV_NAME.test(name)) throw new UsageError(`${label} ${JSON.stringify(value)}: expected NAME=VALUE, NAME being letters, digits and _`);
  return [name, value.slice(at + 1)];
}

function readEnvTable(value: TomlValue, label: string): [string, string][] {
  const entries: [string, string][] = [];
  for (const [name, item] of Object.entries(value as Record<string, TomlValue>)) {
    if (!ENV_NAME.test(name)) throw new UsageError(`${label} ${JSON.stringify(name)}: a variable name is letters, digits and _`);
    if (typeof item !== 'string') throw new UsageError(`${label} ${name}: expected a string, got ${describeTomlType(item)}`);
    entries.push([name, item]);
  }
  return entries;
}

/** `a string`, `an integer`, `an array`, ... for messages. */
export function describeTomlType(value: TomlValue): string {
  if (typeof value === 'string') return `a string (${JSON.stringify(value)})`;
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value))) return `an integer (${value})`;
  if (typeof value === 'number') return `a float (${value})`;
  if (typeof value === 'boolean') return `a boolean (${value})`;
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return 'an array';
  return 'a table';
}
