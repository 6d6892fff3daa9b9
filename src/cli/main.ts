#!/usr/bin/env node
/**
 * The `switchboard` executable (package.json `bin`, built to dist/cli/main.js).
 * Runs as TypeScript directly too: `node src/cli/main.ts serve`.
 *
 * The command is imported, not named in a static import, so that a Node.js too old for it
 * (the library refuses to load, src/core/platform.ts) is one plain line and exit 1, not a stack.
 */
import { ErrorCode } from '../core/errors.ts';

const cli = await import('./cli.ts').catch((error: unknown) => {
  if ((error as { code?: unknown } | undefined)?.code !== ErrorCode.UNSUPPORTED_NODE) throw error;
  process.stderr.write(`switchboard: ${(error as Error).message}\n`);
  return undefined;
});

if (cli === undefined) {
  process.exitCode = 1;
} else {
  try {
    process.exitCode = await cli.runCli(process.argv.slice(2));
  } catch (error) {
    // A bug of ours, not a runtime failure the commands already report.
    process.stderr.write(`switchboard: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  }
}
