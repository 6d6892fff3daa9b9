/** What `serve`, `exec` and `run` share: their flags' values, the logger, and how they end. */
import { ListenError, SwitchboardError, type TcpServerOptions } from '../../index.ts';
import { DEFAULT_DRAIN_TIMEOUT, type ServerDefaults, type UdpLimits } from '../defaults.ts';
import { ExitCode, UsageError } from '../exit-code.ts';
import { Logger } from '../logger.ts';
import { startServerSet, type Endpoint, type RunningEndpoint, type ServerSet, type ServerSetOptions } from '../server-set.ts';
import { readFlag } from '../settings.ts';
import { ShutdownSignals, type Stoppable } from '../shutdown.ts';
import { ServiceNotification, forgetListenEnvironment, inetdFinished } from '../activation-flags.ts';

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

/** The logger the flags ask for; with `--inetd` stdout may be the connection, so every line goes to stderr. */
export function createLogger(values: ServerFlagValues & { readonly inetd?: boolean | undefined }): Logger {
  return new Logger({ json: values.json === true, quiet: values.quiet === true, verbose: values.verbose === true, ...(values.inetd === true && { stdout: process.stderr }) });
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
 * Starts `endpoints` (a function is called inside the start, so that what it throws is a
 * failure to start) and serves them until a signal closes them, or in inetd mode until the one
 * connection is over; resolves with the exit code (1 when they cannot all be bound, or `ready`
 * fails). Signals are caught from before the first bind. Under a service manager it is told
 * READY, STATUS and STOPPING (src/cli/activation-flags.ts).
 */
export async function serveEndpoints(endpoints: readonly Endpoint[] | (() => readonly Endpoint[]), settings: ServerSettings & ServerSetOptions, log: Logger, hooks: ServeHooks = {}): Promise<number> {
  const { stoppable, ready } = hooks;
  const signals = new ShutdownSignals(settings.drainTimeout, log);
  forgetListenEnvironment();
  const notification = new ServiceNotification(log);
  let servers: ServerSet;
  let list: readonly Endpoint[] = [];
  try {
    list = typeof endpoints === 'function' ? endpoints() : endpoints;
    servers = await startServerSet(list, settings, log, ready);
  } catch (error) {
    signals.dispose();
    await notification.close();
    return startFailure(error, log);
  }
  const target = notification.serving(servers, stoppable ? stoppable(servers) : servers);
  const inetd = inetdFinished(servers, list)?.then(async () => {
    log.info('closing', 'the connection is over: closing (inetd mode)', {});
    await target.close(settings.drainTimeout);
    return ExitCode.OK;
  });
  const code = await (inetd === undefined ? signals.serve(target) : Promise.race([signals.serve(target), inetd]));
  await notification.close();
  return code;
}
