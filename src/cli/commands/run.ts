/** `switchboard run MODULE`: serves the handler a user module exports. */
import { SERVER_OPTIONS, parseCommandLine } from '../args.ts';
import { RUN_DEFAULTS } from '../defaults.ts';
import { ExitCode, UsageError } from '../exit-code.ts';
import { RUN_HELP } from '../help.ts';
import { ModuleLoadError, loadHandlerModule, type LoadedHandler } from '../load-module.ts';
import { groupByPort } from '../serve-plan.ts';
import { packageVersion } from '../version.ts';
import { createLogger, printText, readListenAddresses, readServerSettings, serveEndpoints } from './common.ts';

/** Runs `run`; resolves with the exit code. @throws {UsageError} */
export async function runCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('run', args, SERVER_OPTIONS, true);
  if (values.help) return printText(RUN_HELP);
  if (values.version) return printText(packageVersion());
  const [modulePath, ...extra] = positionals;
  if (modulePath === undefined) throw new UsageError('no MODULE given: switchboard run MODULE --listen HOST:PORT', 'run');
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`, 'run');
  const settings = readServerSettings(values, RUN_DEFAULTS);
  const addresses = readListenAddresses(values, 'run');
  const log = createLogger(values);

  let loaded: LoadedHandler;
  try {
    loaded = await loadHandlerModule(modulePath);
  } catch (error) {
    if (!(error instanceof ModuleLoadError)) throw error;
    log.error('load-failed', error.message, { module: modulePath });
    return ExitCode.FAILURE;
  }
  const endpoints = groupByPort(addresses).map(({ hosts, port }) => ({ name: loaded.name, hosts, port, tcp: loaded.handler }));
  return serveEndpoints(endpoints, settings, log);
}
