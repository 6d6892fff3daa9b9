/**
 * Checking `exec`'s PROGRAM once at start, the way the spawn will look for it (execvp): a name
 * with a slash is a path from the working directory; a bare name is searched for in `PATH`,
 * the first executable regular file winning. A program that would fail at every connection is
 * a mistake on the command line, better said before anything binds.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The search path libuv uses when `PATH` is unset. */
const DEFAULT_PATH = '/usr/bin:/bin';

/**
 * Where `program` would be run from, or why it cannot be.
 * @param path the `PATH` the program is spawned with
 * @example
 * findProgram('cat', process.env.PATH); // { file: '/usr/bin/cat' }
 * findProgram('./missing', process.env.PATH); // { problem: 'no such file' }
 */
export function findProgram(program: string, path: string | undefined): { readonly file: string } | { readonly problem: string } {
  if (program.includes('/')) {
    const problem = whyNotExecutable(program);
    return problem === undefined ? { file: program } : { problem };
  }
  let denied: string | undefined;
  for (const directory of (path ?? DEFAULT_PATH).split(delimiter)) {
    const file = join(directory === '' ? '.' : directory, program);
    const problem = whyNotExecutable(file);
    if (problem === undefined) return { file };
    if (problem !== 'no such file') denied ??= file;
  }
  return { problem: denied === undefined ? 'not found in PATH' : `not executable (${denied})` };
}

function whyNotExecutable(file: string): string | undefined {
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    return 'no such file';
  }
  if (!isFile) return 'not a file';
  try {
    accessSync(file, constants.X_OK);
    return undefined;
  } catch {
    return 'not executable';
  }
}
