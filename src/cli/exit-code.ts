/**
 * How the command ends: the exit codes it promises (docs/cli.md) and the error that means
 * "the command line is wrong".
 */

/** The exit codes of `switchboard`. */
export const ExitCode = {
  /** Served, then closed cleanly (a drain deadline that cut sessions short still counts). */
  OK: 0,
  /** A runtime failure: an address in use, a module that throws while loading. */
  FAILURE: 1,
  /** The command line is wrong; the message names the flag or argument. */
  USAGE: 2,
} as const;
/** One of the {@link ExitCode} values, or 128 + a signal number after a forced stop. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode] | number;

/** A command-line mistake: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  /** The command whose help to point at (`serve`, `exec`, `run`), if any. */
  declare readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = new.target.name;
    this.command = command;
  }
}
