/**
 * Reading `switchboard.toml`: TOML 1.0 (smol-toml) into the same settings the flags make, every
 * key read with its flag's syntax (settings.ts), every problem collected with its position.
 * Pure over the file's text: nothing is bound, run or imported here (config-resources.ts checks
 * programs, modules and certificates).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { nearestName } from '../../core/nearest-name.ts';
import { DEFAULT_DRAIN_TIMEOUT, EXEC_DEFAULTS, RUN_DEFAULTS, SERVE_DEFAULTS, SERVE_UDP_DEFAULTS, type ServerDefaults, type UdpLimits } from '../defaults.ts';
import type { LimitFlagOptions } from '../commands/common.ts';
import { UsageError } from '../exit-code.ts';
import type { ListenAddress } from '../listen-address.ts';
import type { ProxyProtocolOptions } from '../../index.ts';
import { DEFAULT_PORT_BASE, findService } from '../services/registry.ts';
import { KEYS_WITHOUT_FLAGS, SETTINGS, describeTomlType, type ServiceKind, type Setting, type SettingName, type TomlValue, type ValueSyntax } from '../settings.ts';
import type { TlsFiles } from '../tls-flags.ts';
import { ProblemList, type ConfigProblem } from './config-problems.ts';
import { formatPath, tomlPositions, type PathSegment, type Position } from './toml-positions.ts';

/** The `[global]` section. */
export interface GlobalConfig {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly drainTimeout: number;
  readonly pidFile: string | undefined;
  /** `metrics`: the address of the metrics endpoint; undefined for none. */
  readonly metrics: ListenAddress | undefined;
  /** `metrics-per-worker`: a `worker` label on the series of the services served by workers. */
  readonly metricsPerWorker: boolean;
}

/** One `[services.NAME]` table, checked, with its kind's defaults applied and its paths made absolute. */
export interface ServiceConfig {
  readonly name: string;
  readonly kind: ServiceKind;
  /** builtin: the service's name. */
  readonly builtin?: string;
  /** exec. */
  readonly program?: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly user?: string;
  /** run: the module's absolute path. */
  readonly module?: string;
  readonly listen: readonly ListenAddress[];
  /** Where each of {@link listen} is in the file's `listen` array (`systemd:NAME` entries sit between them). */
  readonly listenIndexes?: readonly number[];
  /** `listen = ["systemd:NAME"]`: the fd names of the passed sockets it serves (read once, at `up`'s start). */
  readonly systemd: readonly string[];
  readonly transports: readonly ('tcp' | 'udp')[];
  readonly idleTimeout: number;
  readonly maxClients: number;
  readonly maxPerIp: number;
  /** Only the keys given: the library's defaults (or a module's options) stand for the rest. */
  readonly limitOptions: LimitFlagOptions;
  readonly udp: UdpLimits | undefined;
  readonly quotes: string | undefined;
  readonly tls: TlsFiles | undefined;
  /** `proxy-protocol`, `proxy-untrusted`: the TCP servers' `proxyProtocol` option; undefined without `proxy-protocol`. */
  readonly proxyProtocol: ProxyProtocolOptions | undefined;
  /** The limits the file sets rather than the kind's defaults (a module's options stand under them). */
  readonly explicit: ReadonlySet<'idleTimeout' | 'maxClients' | 'maxPerIp'>;
  /** `workers`: served by that many worker processes (docs/workers.md); undefined: in `up`'s process (unless `up --workers`). */
  readonly workers?: number | 'auto';
}

/** A whole file. */
export interface Config {
  readonly file: string;
  readonly global: GlobalConfig;
  readonly services: readonly ServiceConfig[];
  /** Where each key is written, for problems found later (a program missing, a module failing). */
  readonly positions: ReadonlyMap<string, Position>;
}

/** The outcome of reading a file: the config, or what is wrong with it. */
export type ConfigResult =
  | { readonly config: Config; readonly problems?: undefined; readonly partial?: undefined }
  /** `partial` holds the services without problems, for the checks that look beyond the file (so every problem is found at once). */
  | { readonly config?: undefined; readonly problems: readonly ConfigProblem[]; readonly partial?: Config };

/** Each kind's defaults: those of its command. */
const KIND_DEFAULTS: Readonly<Record<ServiceKind, ServerDefaults>> = { builtin: SERVE_DEFAULTS, exec: EXEC_DEFAULTS, run: RUN_DEFAULTS };
const KIND_KEYS = ['builtin', 'program', 'module'] as const;
const KIND_OF: Readonly<Record<(typeof KIND_KEYS)[number], ServiceKind>> = { builtin: 'builtin', program: 'exec', module: 'run' };

/** TOML key -> flag, for each scope. */
const BY_KEY = new Map<string, { readonly name: SettingName; readonly setting: Setting }>();
for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting][]) if (setting.key !== null) BY_KEY.set(`${setting.scope}:${setting.key}`, { name, setting });
const GLOBAL_KEYS = [...BY_KEY.keys()].filter((key) => key.startsWith('global:')).map((key) => key.slice(7));
const SERVICE_KEYS = [...[...BY_KEY.keys()].filter((key) => key.startsWith('service:')).map((key) => key.slice(8)), ...Object.keys(KEYS_WITHOUT_FLAGS)];

/**
 * Reads and checks the file at `file`.
 * @throws {UsageError} when the file cannot be read
 */
export function loadConfigFile(file: string): ConfigResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`config ${JSON.stringify(file)}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  return parseConfig(text, file);
}

/** Checks the text of a config file; paths in it are relative to `file`'s directory. */
export function parseConfig(text: string, file: string): ConfigResult {
  let document: Record<string, TomlValue>;
  try {
    document = parse(text) as Record<string, TomlValue>;
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const reason = error.message.replace(/^Invalid TOML document: /, '').split('\n')[0]!;
    return { problems: [{ line: error.line, column: error.column, path: '', message: `not valid TOML: ${reason}` }] };
  }
  const positions = tomlPositions(text);
  const problems = new ProblemList(positions);
  const base = dirname(resolve(file));
  for (const key of Object.keys(document)) {
    if (key !== 'global' && key !== 'services') problems.add([key], unknownKey(key, ['global', 'services'], 'section'));
  }
  const global = readGlobal(table(document.global, ['global'], problems), problems, base);
  const services: ServiceConfig[] = [];
  const listening: Listening[] = [];
  const servicesTable = table(document.services, ['services'], problems);
  for (const [name, value] of Object.entries(servicesTable)) {
    const service = readService(name, table(value, ['services', name], problems), problems, base, listening);
    if (service) services.push(service);
  }
  if (Object.keys(servicesTable).length === 0 && problems.size === 0) problems.add(['services'], 'no service: add a [services.NAME] table');
  checkOverlaps(listening, problems);
  const config = { file: resolve(file), global, services, positions };
  if (problems.size > 0) return { problems: problems.problems, partial: config };
  return { config };
}

function table(value: TomlValue | undefined, path: PathSegment[], problems: ProblemList): Record<string, TomlValue> {
  if (value === undefined) return {};
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)) return value as Record<string, TomlValue>;
  problems.add(path, `expected a table, got ${describeTomlType(value)}`);
  return {};
}

function unknownKey(key: string, known: readonly string[], what = 'key'): string {
  const nearest = nearestName(key, known);
  return `unknown ${what} ${JSON.stringify(key)}${nearest === undefined ? '' : ` (did you mean ${JSON.stringify(nearest)}?)`}`;
}

function readGlobal(section: Record<string, TomlValue>, problems: ProblemList, base: string): GlobalConfig {
  const values = new Map<string, unknown>();
  for (const [key, value] of Object.entries(section)) {
    const entry = BY_KEY.get(`global:${key}`);
    if (!entry) {
      problems.add(['global', key], unknownKey(key, GLOBAL_KEYS));
      continue;
    }
    if (entry.setting.commands.length === 0) {
      problems.add(['global', key], `reserved for the --${entry.name} flag, which this version does not have yet`);
      continue;
    }
    const read = readValue(value, entry.setting.keySyntax ?? entry.setting.syntax, entry.setting.multiple === true, ['global', key], problems);
    if (read !== undefined) values.set(entry.name, read);
  }
  const pidFile = values.get('pid-file') as string | undefined;
  return {
    json: (values.get('json') as boolean | undefined) ?? false,
    quiet: (values.get('quiet') as boolean | undefined) ?? false,
    verbose: (values.get('verbose') as boolean | undefined) ?? false,
    drainTimeout: (values.get('drain-timeout') as number | undefined) ?? DEFAULT_DRAIN_TIMEOUT,
    pidFile: pidFile === undefined ? undefined : resolve(base, pidFile),
    metrics: values.get('metrics') as ListenAddress | undefined,
    metricsPerWorker: (values.get('metrics-per-worker') as boolean | undefined) ?? false,
  };
}

/** Reads one value (or, for a repeatable setting, an array of them) with `syntax`; undefined after a problem. */
function readValue(value: TomlValue, syntax: ValueSyntax, multiple: boolean, path: PathSegment[], problems: ProblemList): unknown {
  if (multiple && syntax.fromToml === undefined) {
    const items = Array.isArray(value) ? (value as TomlValue[]) : [value];
    const read: unknown[] = [];
    let ok = true;
    items.forEach((item, index) => {
      const itemPath = Array.isArray(value) ? [...path, index] : path;
      const one = readOne(item, syntax, itemPath, problems);
      if (one === undefined) ok = false;
      else read.push(one);
    });
    return ok ? read : undefined;
  }
  return readOne(value, syntax, path, problems);
}

function readOne(value: TomlValue, syntax: ValueSyntax, path: PathSegment[], problems: ProblemList): unknown {
  const type = tomlType(value);
  if (type === undefined || !syntax.toml.includes(type)) {
    problems.add(path, `expected ${syntax.expected}, got ${describeTomlType(value)}`);
    return undefined;
  }
  try {
    if (syntax.fromToml !== undefined && type === 'table') return syntax.fromToml(value, `${formatPath(path)}:`);
    return syntax.read(typeof value === 'string' ? value : String(value), `${formatPath(path)}:`);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    problems.addMessage(path, error.message);
    return undefined;
  }
}

function tomlType(value: TomlValue): ValueSyntax['toml'][number] | undefined {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'bigint') return 'integer';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float';
  if (typeof value === 'boolean') return 'boolean';
  if (value instanceof Date || Array.isArray(value)) return undefined;
  return 'table';
}

/** A service's addresses, for {@link checkOverlaps}, read even when the rest of it has problems. */
interface Listening {
  readonly service: string;
  /** Addresses and `systemd:NAME` entries, in the file's order (indexes are positions). */
  readonly listen: readonly ListenEntry[];
  readonly transports: readonly string[];
}

function readService(name: string, section: Record<string, TomlValue>, problems: ProblemList, base: string, listening: Listening[]): ServiceConfig | undefined {
  const here: PathSegment[] = ['services', name];
  const before = problems.size;
  const kinds = KIND_KEYS.filter((key) => section[key] !== undefined);
  if (kinds.length === 0) problems.add(here, 'which service is it? Give it builtin = "echo" (a built-in service), program = "\u2026" (exec) or module = "\u2026" (run)');
  if (kinds.length > 1) problems.add([...here, kinds[1]!], `a service has one of builtin, program and module; this one also has ${kinds[0]}`);
  const kind = kinds.length === 1 ? KIND_OF[kinds[0]!] : undefined;
  const values = new Map<string, unknown>();
  for (const [key, value] of Object.entries(section)) {
    const path = [...here, key];
    const entry = BY_KEY.get(`service:${key}`);
    const extra = (KEYS_WITHOUT_FLAGS as Record<string, { syntax: ValueSyntax; services: readonly ServiceKind[]; multiple?: boolean }>)[key];
    if (!entry && !extra) {
      problems.add(path, unknownKey(key, SERVICE_KEYS));
      continue;
    }
    const services = entry ? entry.setting.services! : extra!.services;
    if (kind !== undefined && !services.includes(kind)) {
      problems.add(path, `${key} is for ${services.map(describeKind).join(' and ')}, not for ${describeKind(kind)}`);
      continue;
    }
    const syntax = entry ? (entry.setting.keySyntax ?? entry.setting.syntax) : extra!.syntax;
    const multiple = entry ? entry.setting.multiple === true : extra!.multiple === true;
    const read = readValue(value, syntax, multiple, path, problems);
    if (read !== undefined) values.set(entry ? entry.name : key, read);
  }
  const get = <T>(key: string): T | undefined => values.get(key) as T | undefined;
  const listed = get<ListenEntry[]>('listen');
  const kindGuess = kind ?? (section.builtin !== undefined ? 'builtin' : 'exec');
  if (listed) listening.push({ service: name, listen: listed, transports: get<string[]>('transports') ?? (kindGuess === 'builtin' ? ['tcp', 'udp'] : ['tcp']) });
  if (kind === undefined || problems.size > before) return undefined;
  const builtin = get<string>('builtin');
  if (builtin !== undefined && findService(builtin) === undefined) {
    problems.add([...here, 'builtin'], `unknown service ${JSON.stringify(builtin)} (one of echo, discard, daytime, qotd, chargen, time)`);
    return undefined;
  }
  let listen = listed?.filter((entry): entry is ListenAddress => !('systemd' in entry));
  const systemd = [...new Set(listed?.flatMap((entry) => ('systemd' in entry ? [entry.systemd] : [])) ?? [])];
  if ((listen === undefined || listen.length === 0) && systemd.length === 0) {
    if (kind !== 'builtin') {
      problems.add(here, `listen is required: listen = ["127.0.0.1:7000"] (HOST:PORT, [IPv6]:PORT, *:PORT, :PORT or systemd:NAME)`);
      return undefined;
    }
    const port = DEFAULT_PORT_BASE + findService(builtin!)!.standardPort;
    listen = [{ host: 'localhost', port, text: `localhost:${port}` }];
  }
  const transports: ('tcp' | 'udp')[] = [...new Set(get<('tcp' | 'udp')[]>('transports') ?? (kind === 'builtin' ? ['tcp', 'udp'] as const : ['tcp'] as const))];
  if (transports.length === 0) problems.add([...here, 'transports'], 'must name tcp, udp or both');
  if (get('quotes') !== undefined && builtin !== 'qotd') problems.add([...here, 'quotes'], `quotes are for the qotd service, not ${builtin}`);
  const tls = readTls(here, values, problems, base);
  if (tls && !transports.includes('tcp')) problems.add([...here, 'tls-cert'], 'TLS is for tcp; this service has no tcp transport');
  const proxyFrom = get<string[]>('proxy-protocol');
  const untrusted = get<'refuse' | 'direct'>('proxy-untrusted');
  if (untrusted !== undefined && proxyFrom === undefined) problems.add([...here, 'proxy-untrusted'], 'needs proxy-protocol (the trusted balancers)');
  else if (proxyFrom !== undefined && proxyFrom.length === 0) problems.add([...here, 'proxy-protocol'], 'must list at least one address or CIDR prefix (remove the key to turn the PROXY protocol off)');
  else if (proxyFrom !== undefined && !transports.includes('tcp')) problems.add([...here, 'proxy-protocol'], 'the PROXY protocol is for tcp; this service has no tcp transport');
  const workers = get<number | 'auto'>('workers');
  if (problems.size > before) return undefined;
  const defaults = KIND_DEFAULTS[kind];
  const limitOptions: { -readonly [K in keyof LimitFlagOptions]: LimitFlagOptions[K] } = {};
  if (values.has('first-byte-timeout')) limitOptions.firstByteTimeout = get('first-byte-timeout');
  if (values.has('max-lifetime')) limitOptions.maxLifetime = get('max-lifetime');
  if (values.has('accept-rate')) limitOptions.acceptRate = get('accept-rate');
  if (values.has('max-output')) limitOptions.maxBufferedOutput = get('max-output');
  if (values.has('allow')) limitOptions.allow = get('allow');
  if (values.has('deny')) limitOptions.deny = get('deny');
  const env = get<[string, string][]>('env');
  const program = get<string>('program');
  const cwd = get<string>('cwd');
  const module = get<string>('module');
  const quotes = get<string>('quotes');
  return {
    name,
    kind,
    ...(builtin !== undefined && { builtin }),
    // A program with a slash is a path from the file's directory (or cwd); a bare name is looked up in PATH.
    ...(program !== undefined && { program: program.includes('/') ? resolve(cwd === undefined ? base : resolve(base, cwd), program) : program }),
    args: get<string[]>('args') ?? [],
    ...(env !== undefined && { env: Object.fromEntries(env) }),
    ...(cwd !== undefined && { cwd: resolve(base, cwd) }),
    ...(values.has('user') && { user: get<string>('user')! }),
    ...(module !== undefined && { module: resolve(base, module) }),
    listen: listen ?? [],
    ...(listed !== undefined && { listenIndexes: listed.flatMap((entry, index) => ('systemd' in entry ? [] : [index])) }),
    systemd,
    transports,
    idleTimeout: get<number>('idle-timeout') ?? defaults.idleTimeout,
    maxClients: get<number>('max-clients') ?? defaults.maxClients,
    maxPerIp: get<number>('max-per-ip') ?? defaults.maxPerIp,
    limitOptions,
    udp: kind === 'builtin' && transports.includes('udp') ? { datagramsPerSecond: get<number>('udp-rate') ?? SERVE_UDP_DEFAULTS.datagramsPerSecond, replyBytesPerSecond: get<number>('udp-reply-rate') ?? SERVE_UDP_DEFAULTS.replyBytesPerSecond } : undefined,
    quotes: quotes === undefined ? undefined : resolve(base, quotes),
    tls,
    proxyProtocol: proxyFrom === undefined ? undefined : { from: proxyFrom, ...(untrusted !== undefined && { untrusted }) },
    explicit: new Set((['idle-timeout', 'max-clients', 'max-per-ip'] as const).filter((key) => values.has(key)).map((key) => EXPLICIT[key])),
    ...(workers !== undefined && { workers }),
  };
}

const EXPLICIT = { 'idle-timeout': 'idleTimeout', 'max-clients': 'maxClients', 'max-per-ip': 'maxPerIp' } as const;

function describeKind(kind: ServiceKind): string {
  return kind === 'builtin' ? 'built-in services' : kind === 'exec' ? 'program services' : 'module services';
}

function readTls(here: PathSegment[], values: ReadonlyMap<string, unknown>, problems: ProblemList, base: string): TlsFiles | undefined {
  const cert = values.get('tls-cert') as string | undefined;
  const key = values.get('tls-key') as string | undefined;
  const ca = values.get('tls-ca') as string | undefined;
  const clientCert = values.get('tls-client-cert') as TlsFiles['clientCert'];
  if (cert === undefined && key === undefined) {
    if (ca !== undefined) problems.add([...here, 'tls-ca'], 'needs tls-cert and tls-key');
    else if (clientCert !== undefined) problems.add([...here, 'tls-client-cert'], 'needs tls-cert and tls-key');
    return undefined;
  }
  if (cert === undefined) problems.add([...here, 'tls-key'], 'needs tls-cert (the certificate it belongs to)');
  if (key === undefined) problems.add([...here, 'tls-cert'], 'needs tls-key (its private key)');
  if (cert === undefined || key === undefined) return undefined;
  return { cert: resolve(base, cert), key: resolve(base, key), ca: ca === undefined ? undefined : resolve(base, ca), clientCert };
}

/** One `listen` entry: an address, or `systemd:NAME`. */
type ListenEntry = ListenAddress | { readonly systemd: string; readonly text: string };

/** Two services on one address and transport: the second is reported, naming the first. Port 0 is a free port each: never a clash. */
function checkOverlaps(services: readonly Listening[], problems: ProblemList): void {
  const seen: { service: string; transport: string; address: ListenAddress }[] = [];
  const fdNames = new Map<string, string>();
  for (const service of services) {
    service.listen.forEach((address, index) => {
      if ('systemd' in address) {
        // The passed fds of one name go to one service: two would each try to adopt them.
        const other = fdNames.get(address.systemd);
        if (other !== undefined && other !== service.service) problems.add(['services', service.service, 'listen', index], `${JSON.stringify(address.text)}: services.${other} serves the fds named ${JSON.stringify(address.systemd)} too`);
        else fdNames.set(address.systemd, service.service);
        return;
      }
      if (address.port === 0) return;
      for (const transport of service.transports) {
        const clash = seen.find((other) => other.transport === transport && other.address.port === address.port && hostsOverlap(other.address.host, address.host) && other.service !== service.service);
        if (clash) {
          problems.add(['services', service.service, 'listen', index], `${JSON.stringify(address.text)}: services.${clash.service} listens there too (${transport} ${clash.address.text})`);
          return;
        }
      }
      for (const transport of service.transports) seen.push({ service: service.service, transport, address });
    });
  }
}

const ANY = new Set([undefined, '*', '0.0.0.0', '::']);

function hostsOverlap(a: string | undefined, b: string | undefined): boolean {
  if (a === b) return true;
  const v4 = (host: string | undefined): boolean => host === undefined || !host?.includes(':');
  // A wildcard overlaps every address of its family (`*` and `::` both families).
  if (ANY.has(a) && ANY.has(b)) return a === '*' || b === '*' || a === '::' || b === '::' || a === b || (v4(a) && v4(b));
  if (ANY.has(a)) return a === '*' || a === '::' || v4(b) === v4(a);
  if (ANY.has(b)) return b === '*' || b === '::' || v4(a) === v4(b);
  return (a === 'localhost' && (b === '127.0.0.1' || b === '::1')) || (b === 'localhost' && (a === '127.0.0.1' || a === '::1'));
}
