/**
 * The `switchboard` command: picks the command, runs it, and turns usage errors into exit
 * code 2 with a pointer to `--help`.
 */
import { checkCommand } from './commands/check.ts';
import { execCommand } from './commands/exec.ts';
import { reloadCommand, upgradeCommand } from './commands/reload.ts';
import { upCommand } from './commands/up.ts';
import { printText } from './commands/common.ts';
import { runCommand } from './commands/run.ts';
import { serveCommand } from './commands/serve.ts';
import { ExitCode, UsageError } from './exit-code.ts';
import { CHECK_HELP, EXEC_HELP, MAIN_HELP, RELOAD_HELP, RUN_HELP, SERVE_HELP, UP_HELP, UPGRADE_HELP } from './help.ts';
import { packageVersion } from './version.ts';

const COMMANDS: Record<string, (args: readonly string[]) => Promise<number>> = {
  serve: serveCommand,
  exec: execCommand,
  run: runCommand,
  up: upCommand,
  check: checkCommand,
  reload: reloadCommand,
  upgrade: upgradeCommand,
};
const HELP: Record<string, string> = { serve: SERVE_HELP, exec: EXEC_HELP, run: RUN_HELP, up: UP_HELP, check: CHECK_HELP, reload: RELOAD_HELP, upgrade: UPGRADE_HELP };

/**
 * Runs the command line `argv` (without node and the script) and resolves with the exit code.
 * With no command, or flags only, it is `serve`.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  let running = 'serve';
  try {
    if (first === '--help' || first === '-h') return printText(MAIN_HELP);
    if (first === '--version') return printText(packageVersion());
    if (first === 'help') return help(rest[0]);
    if (first === undefined || first.startsWith('-')) return await serveCommand(argv);
    const command = COMMANDS[first];
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(first)} (serve, exec, run, up, check, reload or upgrade)`, '');
    running = first;
    return await command(rest);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const command = error.command ?? running;
    const where = command ? ` ${command}` : '';
    process.stderr.write(`switchboard${where}: ${error.message}\nRun 'switchboard${where} --help' for usage.\n`);
    return ExitCode.USAGE;
  }
}

function help(command: string | undefined): number {
  if (command === undefined) return printText(MAIN_HELP);
  const text = HELP[command];
  if (text === undefined) throw new UsageError(`unknown command ${JSON.stringify(command)} (serve, exec, run, up, check, reload or upgrade)`, '');
  return printText(text);
}
