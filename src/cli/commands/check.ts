/**
 * `switchboard check [CONFIG]`: everything `up` checks before it binds -- the file's keys and
 * values, two services on one address, programs, directories, users, modules (imported),
 * certificates (parsed, matched with their keys), quote files -- and that host names resolve.
 * Binds nothing. Exit 0 and one line when the file is good; every problem and exit 2 otherwise.
 */
import { parseCommandLine } from '../args.ts';
import { CHECK_HELP } from '../help.ts';
import { flagOptions } from '../settings.ts';
import { packageVersion } from '../version.ts';
import { printText } from './common.ts';
import { checkConfigFile, configArgument, reportProblems } from './up.ts';

/** `check`'s flags. */
export const CHECK_OPTIONS = flagOptions(['help', 'version']);

/** Runs `check`; resolves with the exit code. @throws {UsageError} */
export async function checkCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('check', args, CHECK_OPTIONS, true);
  if (values.help) return printText(CHECK_HELP);
  if (values.version) return printText(packageVersion());
  const file = configArgument(positionals, 'check');
  const checked = await checkConfigFile(file, true);
  if (checked.problems) return reportProblems(file, checked.problems, 'check', 'not ready to run');
  const names = checked.config.services.map((service) => service.name);
  return printText(`${file}: ok, ${names.length} service(s): ${names.join(', ')}`);
}
