/**
 * `switchboard run MODULE`: serves the handler a user module exports, with the server options it
 * exports under the command's flags, and its `setup(server)` called once each server listens.
 */
import { InvalidOptionError, TcpServer } from '../../index.ts';
import { SERVER_OPTIONS, parseCommandLine } from '../args.ts';
import { RUN_DEFAULTS } from '../defaults.ts';
import { ExitCode, UsageError } from '../exit-code.ts';
import { RUN_HELP } from '../help.ts';
import { ModuleLoadError, loadHandlerModule, type LoadedHandler } from '../load-module.ts';
import type { ModuleServerOptions } from '../module-options.ts';
import { METRICS_OPTIONS, readMetricsFlag, withMetrics } from '../metrics-flags.ts';
import { ACTIVATION_OPTIONS, readActivationFlags, tcpEndpoints } from '../activation-flags.ts';
import { TLS_OPTIONS, readTlsFlags, tlsOptionsFrom, withTlsReload } from '../tls-flags.ts';
import { PROXY_OPTIONS, readProxyFlags, withProxyProtocol } from '../proxy-flags.ts';
import type { RunningEndpoint } from '../server-set.ts';
import { flagOptions } from '../settings.ts';
import { packageVersion } from '../version.ts';
import { runWorkers } from './run-workers.ts';
import { createLogger, printText, readServerSettings, serveEndpoints, type ServerFlagValues } from './common.ts';

/** `run`'s flags. */
export const RUN_OPTIONS = { ...SERVER_OPTIONS, ...TLS_OPTIONS, ...METRICS_OPTIONS, ...ACTIVATION_OPTIONS, ...PROXY_OPTIONS, ...flagOptions(['workers', 'pid-file', 'metrics-per-worker']) } as const;

/** Runs `run`; resolves with the exit code. @throws {UsageError} */
export async function runCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('run', args, RUN_OPTIONS, true);
  if (values.help) return printText(RUN_HELP);
  if (values.version) return printText(packageVersion());
  const [modulePath, ...extra] = positionals;
  if (modulePath === undefined) throw new UsageError('no MODULE given: switchboard run MODULE --listen HOST:PORT', 'run');
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, 'run');
  readServerSettings(values, RUN_DEFAULTS); // the flags' own mistakes first, before the module runs
  // The module is imported by each worker, never by the primary (its side effects belong there).
  if (values.workers !== undefined) return runWorkers(modulePath, values, createLogger(values));
  const tlsFiles = readTlsFlags(values, 'run');
  const metrics = readMetricsFlag(values);
  const planned = tcpEndpoints(readActivationFlags(values, 'run'), 'run');
  const proxyProtocol = readProxyFlags(values, 'run');
  const log = createLogger(values);

  let loaded: LoadedHandler;
  try {
    loaded = await loadHandlerModule(modulePath);
  } catch (error) {
    if (!(error instanceof ModuleLoadError)) throw error;
    log.error('load-failed', error.message, { module: modulePath });
    return ExitCode.FAILURE;
  }
  if (loaded.warning !== undefined) log.warn('warning', `${modulePath}: ${loaded.warning}`, { module: modulePath });
  // The TLS flags' files replace the material of the module's own `tls` options (its mode, ALPN, ... stay).
  const moduleTls = loaded.options.tls;
  const options = tlsFiles ? { ...loaded.options, tls: tlsOptionsFrom(tlsFiles, moduleTls, 'run') } : loaded.options;
  checkOptionValues(modulePath, options);
  const { setup } = loaded;
  const ready = setup && (async (running: readonly RunningEndpoint[]) => {
    for (const { tcp } of running) {
      try {
        await setup(tcp);
      } catch (error) {
        throw new ModuleLoadError(`${modulePath}: setup(server) failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
  });
  return serveEndpoints(() => planned(loaded.name, loaded.handler), withProxyProtocol(mergeModuleOptions(values, options), proxyProtocol), log, withMetrics(metrics, log, withTlsReload(tlsFiles, moduleTls, log, ready ? { ready } : {})));
}

/**
 * The settings with the module's options under the flags: a flag given wins; else the module's
 * value; else the command's default.
 */
function mergeModuleOptions(values: ServerFlagValues, options: ModuleServerOptions) {
  const settings = readServerSettings(values, {
    idleTimeout: options.idleTimeout ?? RUN_DEFAULTS.idleTimeout,
    maxClients: options.maxConnections ?? RUN_DEFAULTS.maxClients,
    maxPerIp: options.maxConnectionsPerAddress ?? RUN_DEFAULTS.maxPerIp,
  });
  const capsFromModule = new Set<'maxClients' | 'maxPerIp'>();
  if (values['max-clients'] === undefined && options.maxConnections !== undefined) capsFromModule.add('maxClients');
  if (values['max-per-ip'] === undefined && options.maxConnectionsPerAddress !== undefined) capsFromModule.add('maxPerIp');
  return { ...settings, serverOptions: options, capsFromModule };
}

/**
 * The module's option values, checked by the library before anything binds (constructing a
 * server binds nothing): a bad one is a usage error naming the module.
 * @throws {UsageError}
 */
function checkOptionValues(path: string, options: ModuleServerOptions): void {
  try {
    new TcpServer(options);
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new UsageError(`MODULE ${JSON.stringify(path)}: options: ${error.message}`, 'run');
    // Anything else (reusePort where the platform lacks it) is a failure to start: reported then.
  }
}
