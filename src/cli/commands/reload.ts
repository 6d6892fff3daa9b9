/**
 * `switchboard reload [CONFIG] [--pid-file FILE]`: sends SIGHUP to the `up` whose pid the pid
 * file holds (`--pid-file`, or the file's `global.pid-file`), for systemd's `ExecReload=`. What
 * the reload did is in that process's log; this command only says that the signal went.
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine } from '../args.ts';
import { loadConfigFile } from '../config/load-config.ts';
import { ExitCode, UsageError } from '../exit-code.ts';
import { RELOAD_HELP, UPGRADE_HELP } from '../help.ts';
import { flagOptions, readFlag } from '../settings.ts';
import { packageVersion } from '../version.ts';
import { printText } from './common.ts';
import { configArgument, reportProblems } from './up.ts';

/** `reload`'s flags. */
export const RELOAD_OPTIONS = flagOptions(['help', 'version', 'pid-file']);

/** `upgrade`'s flags: `reload`'s. */
export const UPGRADE_OPTIONS = RELOAD_OPTIONS;

/** Runs `upgrade` (SIGUSR2 to a `run --workers`); resolves with the exit code. @throws {UsageError} */
export function upgradeCommand(args: readonly string[]): Promise<number> {
  return signalPidFile('upgrade', 'SIGUSR2', UPGRADE_HELP, args);
}

/** Runs `reload`; resolves with the exit code. @throws {UsageError} */
export function reloadCommand(args: readonly string[]): Promise<number> {
  return signalPidFile('reload', 'SIGHUP', RELOAD_HELP, args);
}

/**
 * Sends `signal` to the process the pid file names (`--pid-file`, or the config file's
 * `global.pid-file`): `reload` (SIGHUP) and `upgrade` (SIGUSR2). @throws {UsageError}
 */
export async function signalPidFile(command: 'reload' | 'upgrade', signal: NodeJS.Signals, helpText: string, args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(command, args, RELOAD_OPTIONS, true);
  if (values.help) return printText(helpText);
  if (values.version) return printText(packageVersion());
  let pidFile = values['pid-file'] === undefined ? undefined : readFlag('pid-file', values['pid-file'], '');
  if (pidFile === undefined) {
    const file = configArgument(positionals, command);
    const loaded = loadConfigFile(file);
    if (loaded.problems) return reportProblems(file, loaded.problems, command, 'no signal sent');
    pidFile = loaded.config.global.pidFile;
    if (pidFile === undefined) throw new UsageError(`no pid file: give --pid-file FILE, or pid-file in the [global] section of ${file}`, command);
  }
  let text: string;
  try {
    text = readFileSync(pidFile, 'utf8').trim();
  } catch (error) {
    process.stderr.write(`switchboard ${command}: pid file ${pidFile}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (is switchboard up running?)' : (error as Error).message}\n`);
    return ExitCode.FAILURE;
  }
  if (!/^\d+$/.test(text) || Number(text) < 2) {
    process.stderr.write(`switchboard ${command}: pid file ${pidFile}: ${JSON.stringify(text)} is not a process id\n`);
    return ExitCode.FAILURE;
  }
  try {
    process.kill(Number(text), signal);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    process.stderr.write(`switchboard ${command}: pid ${text} (from ${pidFile}): ${code === 'ESRCH' ? 'no such process (is switchboard up running?)' : (error as Error).message}\n`);
    return ExitCode.FAILURE;
  }
  return printText(`sent ${signal} to pid ${text}`);
}
