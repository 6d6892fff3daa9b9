/**
 * `switchboard up [CONFIG]`: every service a `switchboard.toml` lists, in one process, re-read
 * on SIGHUP (or `switchboard reload`). The file is checked completely before anything binds:
 * its problems are printed together, each with its line, column and key path, and the command
 * exits 2 with nothing started.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { COMMON_OPTIONS, parseCommandLine } from '../args.ts';
import { checkResources, type ServiceResources } from '../config/config-resources.ts';
import { formatProblems, type ConfigProblem } from '../config/config-problems.ts';
import { loadConfigFile, type Config } from '../config/load-config.ts';
import { Supervisor, moduleVersion, type WorkerDefaults } from '../config/supervisor.ts';
import { ExitCode, UsageError } from '../exit-code.ts';
import { UP_HELP } from '../help.ts';
import { Logger } from '../logger.ts';
import { flagOptions, readFlag } from '../settings.ts';
import { ShutdownSignals } from '../shutdown.ts';
import { packageVersion } from '../version.ts';
import { MetricsRegistry, type MetricsServer } from '../../index.ts';
import { ServiceNotification, forgetListenEnvironment } from '../activation-flags.ts';
import { drainingMetrics, readMetricsFlag, startMetricsEndpoint } from '../metrics-flags.ts';
import { printText, startFailure } from './common.ts';

/** The file `up`, `check` and `reload` read when none is named. */
export const DEFAULT_CONFIG = 'switchboard.toml';

/** `up`'s flags. */
export const UP_OPTIONS = { ...COMMON_OPTIONS, ...flagOptions(['pid-file', 'metrics', 'workers', 'metrics-per-worker']) } as const;

/** Runs `up`; resolves with the exit code. @throws {UsageError} */
export async function upCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('up', args, UP_OPTIONS, true);
  if (values.help) return printText(UP_HELP);
  if (values.version) return printText(packageVersion());
  const file = configArgument(positionals, 'up');
  const drainFlag = values['drain-timeout'] === undefined ? undefined : readFlag('drain-timeout', values['drain-timeout'], 0);
  const pidFlag = values['pid-file'] === undefined ? undefined : readFlag('pid-file', values['pid-file'], '');
  const metricsFlag = readMetricsFlag(values);
  const workerDefaults: WorkerDefaults = {
    ...(values.workers !== undefined && { workers: readFlag<number | 'auto'>('workers', values.workers, 'auto') }),
    ...(values['metrics-per-worker'] === true && { metricsPerWorker: true }),
  };
  const checked = await checkConfigFile(file, false);
  if (checked.problems) return reportProblems(file, checked.problems, 'up', 'nothing started');
  const { config } = checked;
  const { global } = config;
  const log = new Logger({ json: values.json === true || global.json, quiet: values.quiet === true || global.quiet, verbose: values.verbose === true || global.verbose });
  const signals = new ShutdownSignals(drainFlag ?? global.drainTimeout, log);
  // Read once, now: the services on passed fds adopt them by name; no program exec runs inherits LISTEN_*.
  forgetListenEnvironment();
  const notification = new ServiceNotification(log);
  const metricsAddress = metricsFlag ?? global.metrics;
  const registry = metricsAddress === undefined ? undefined : new MetricsRegistry();
  let metrics: MetricsServer | undefined;
  // In before the first bind, so a SIGHUP during startup is not the default (fatal) action.
  let supervisor: Supervisor | undefined;
  const onHangup = (): void => {
    if (!supervisor) {
      log.warn('reload', 'SIGHUP while starting: not reloading');
      return;
    }
    void notification.reload(() => supervisor!.reload()).then(() => (signals.drainTimeout = supervisor!.drainTimeout));
  };
  process.on('SIGHUP', onHangup);
  try {
    supervisor = await Supervisor.start(config, checked.resources, log, drainFlag, registry, workerDefaults);
    if (metricsAddress !== undefined) metrics = await startMetricsEndpoint(metricsAddress, registry!, log).catch(async (error: unknown) => {
      await supervisor!.destroy();
      throw error;
    });
  } catch (error) {
    process.off('SIGHUP', onHangup);
    signals.dispose();
    await notification.close();
    return startFailure(error, log);
  }
  const pidFile = pidFlag ?? global.pidFile;
  if (pidFile !== undefined) writePidFile(pidFile, log);
  log.info('up', `up: ${config.services.length} service(s) from ${config.file}${pidFile === undefined ? '' : `, pid ${process.pid} in ${pidFile}`}`, { file: config.file, services: config.services.length, pid: process.pid });
  const target = notification.serving(supervisor, registry === undefined ? supervisor : drainingMetrics(supervisor, registry, () => metrics), { sighup: false });
  try {
    return await signals.serve(target);
  } finally {
    await notification.close();
    process.off('SIGHUP', onHangup);
    if (pidFile !== undefined) rmSync(pidFile, { force: true });
  }
}

/** CONFIG, the one optional positional of `up`, `check` and `reload`. @throws {UsageError} */
export function configArgument(positionals: readonly string[], command: string): string {
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`, command);
  return positionals[0] ?? DEFAULT_CONFIG;
}

/** Prints every problem, then a summary; exit code 2. */
export function reportProblems(file: string, problems: readonly ConfigProblem[], command: string, outcome: string): number {
  const lines = formatProblems(file, problems);
  process.stderr.write(`${lines.join('\n')}\nswitchboard ${command}: ${problems.length} problem(s) in ${file}; ${outcome}\n`);
  return ExitCode.USAGE;
}

function writePidFile(path: string, log: Logger): void {
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch (error) {
    log.warn('pid-file', `cannot write the pid file ${path}: ${(error as Error).message}`, { pidFile: path });
  }
}

/**
 * Reads and checks a config file as `up` does before it binds (for `check`, with `resolveNames`,
 * host names too): every problem at once, those of the file and those beyond it (a program
 * missing) of the services that have none in the file.
 * @throws {UsageError} when the file cannot be read
 */
export async function checkConfigFile(file: string, resolveNames: boolean): Promise<
  { readonly config: Config; readonly resources: ReadonlyMap<string, ServiceResources>; readonly problems?: undefined } | { readonly config?: undefined; readonly problems: readonly ConfigProblem[] }
> {
  const loaded = loadConfigFile(file);
  const config = loaded.config ?? loaded.partial;
  const checked = config && (await checkResources(config, { resolveNames, moduleVersion }));
  const problems = [...(loaded.problems ?? []), ...(checked?.problems ?? [])];
  if (problems.length > 0 || !loaded.config || !checked?.resources) return { problems };
  return { config: loaded.config, resources: checked.resources };
}
