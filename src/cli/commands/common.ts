/** What `serve`, `exec` and `run` share: their flags' values, the logger, and how they end. */
import { ListenError, SwitchboardError, type TcpServerOptions } from '../../index.ts';
import { DEFAULT_DRAIN_TIMEOUT, type ServerDefaults, type UdpLimits } from '../defaults.ts';
import { ExitCode, UsageError } from '../exit-code.ts';
import { parseListenAddress, type ListenAddress } from '../listen-address.ts';
import { Logger } from '../logger.ts';
import { startServerSet, type Endpoint, type RunningEndpoint, type ServerSet, type ServerSetOptions } from '../server-set.ts';
import { readFlag } from '../settings.ts';
import { ShutdownSignals, type Stoppable } from '../shutdown.ts';

/** The flag values every serving command has (as `parseArgs` returns them). */
export interface ServerFlagValues {
  readonly json?: boolean | undefined;
  readonly quiet?: boolean | undefined;
  readonly verbose?: boolean | undefined;
  readonly listen?: string[] | undefined;
  readonly 'drain-timeout'?: string | undefined;
  readonly 'idle-timeout'?: string | undefined;
  readonly 'max-clients'?: string | undefined;
  readonly 'max-per-ip'?: string | undefined;
  readonly 'first-byte-timeout'?: string | undefined;
  readonly 'max-lifetime'?: string | undefined;
  readonly 'accept-rate'?: string | undefined;
  readonly 'max-output'?: string | undefined;
  readonly allow?: string[] | undefined;
  readonly deny?: string[] | undefined;
}

/** The checked settings behind those flags. */
export interface ServerSettings {
  readonly drainTimeout: number;
  readonly idleTimeout: number;
  readonly maxClients: number;
  readonly maxPerIp: number;
  /** `serve` only: the UDP servers' limits (`--udp-rate`, `--udp-reply-rate`). */
  readonly udp?: UdpLimits;
  /** The limit flags given with no command default of their own (the library's applies, or a `run` module's). */
  readonly limitOptions: LimitFlagOptions;
}

/** The server options behind `--first-byte-timeout`, `--max-lifetime`, `--accept-rate`, `--max-output`, `--allow`, `--deny`: only those given. */
export type LimitFlagOptions = Pick<TcpServerOptions, 'firstByteTimeout' | 'maxLifetime' | 'acceptRate' | 'maxBufferedOutput' | 'allow' | 'deny'>;

/** @throws {UsageError} naming the flag with a bad value */
export function readLimitFlags(values: ServerFlagValues): LimitFlagOptions {
  const options: { -readonly [K in keyof LimitFlagOptions]: LimitFlagOptions[K] } = {};
  if (values['first-byte-timeout'] !== undefined) options.firstByteTimeout = readFlag('first-byte-timeout', values['first-byte-timeout'], 0);
  if (values['max-lifetime'] !== undefined) options.maxLifetime = readFlag('max-lifetime', values['max-lifetime'], 0);
  if (values['accept-rate'] !== undefined) options.acceptRate = readFlag('accept-rate', values['accept-rate'], 0);
  if (values['max-output'] !== undefined) options.maxBufferedOutput = readFlag('max-output', values['max-output'], 0);
  if (values.allow !== undefined) options.allow = values.allow.map((entry) => readFlag('allow', entry, entry));
  if (values.deny !== undefined) options.deny = values.deny.map((entry) => readFlag('deny', entry, entry));
  return options;
}

/** @throws {UsageError} naming the flag with a bad value */
export function readServerSettings(values: ServerFlagValues, defaults: ServerDefaults): ServerSettings {
  return {
    drainTimeout: readFlag('drain-timeout', values['drain-timeout'], DEFAULT_DRAIN_TIMEOUT),
    idleTimeout: readFlag('idle-timeout', values['idle-timeout'], defaults.idleTimeout),
    maxClients: readFlag('max-clients', values['max-clients'], defaults.maxClients),
    maxPerIp: readFlag('max-per-ip', values['max-per-ip'], defaults.maxPerIp),
    limitOptions: readLimitFlags(values),
  };
}

/** `--listen` values for `exec` and `run`: at least one, no `SERVICE=` prefix. @throws {UsageError} */
export function readListenAddresses(values: ServerFlagValues, command: string): ListenAddress[] {
  const listens = values.listen ?? [];
  if (listens.length === 0) throw new UsageError(`--listen is required (HOST:PORT, [IPv6]:PORT, *:PORT or :PORT)`, command);
  return listens.map((text) => parseListenAddress(text));
}

/** The logger the flags ask for. */
export function createLogger(values: ServerFlagValues): Logger {
  return new Logger({ json: values.json === true, quiet: values.quiet === true, verbose: values.verbose === true });
}

/**
 * Logs a failure to start serving and returns exit code 1; a usage error is rethrown. The
 * library's errors already say what failed where (`listen tcp 127.0.0.1:7000: address already in use (EADDRINUSE)`).
 */
export function startFailure(error: unknown, log: Logger): number {
  if (error instanceof UsageError) throw error;
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof SwitchboardError ? error.code : undefined;
  const failures = error instanceof ListenError ? error.failures.length : undefined;
  log.error('start-failed', message, { code, failures });
  return ExitCode.FAILURE;
}

/** Prints help or the version on stdout; exit code 0. */
export function printText(text: string): number {
  process.stdout.write(`${text}\n`);
  return ExitCode.OK;
}

/** What a command adds to serving its endpoints. */
export interface ServeHooks {
  /** How to stop the servers, when not simply the library's close and destroy. */
  readonly stoppable?: (servers: ServerSet) => Stoppable;
  /** Runs once every endpoint is bound, before the `listening` lines; a throw is a failure to start. */
  readonly ready?: (running: readonly RunningEndpoint[]) => Promise<void>;
}

/**
 * Starts `endpoints` and serves them until a signal closes them; resolves with the exit code
 * (1 when they cannot all be bound, or `ready` fails). Signals are caught from before the first bind.
 */
export async function serveEndpoints(endpoints: readonly Endpoint[], settings: ServerSettings & ServerSetOptions, log: Logger, hooks: ServeHooks = {}): Promise<number> {
  const { stoppable, ready } = hooks;
  const signals = new ShutdownSignals(settings.drainTimeout, log);
  let servers: ServerSet;
  try {
    servers = await startServerSet(endpoints, settings, log, ready);
  } catch (error) {
    signals.dispose();
    return startFailure(error, log);
  }
  return signals.serve(stoppable ? stoppable(servers) : servers);
}
