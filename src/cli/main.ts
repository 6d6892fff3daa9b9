#!/usr/bin/env node
/**
 * The `switchboard` executable (package.json `bin`, built to dist/cli/main.js).
 * Runs as TypeScript directly too: `node src/cli/main.ts serve`.
 */
import { runCli } from './cli.ts';

try {
  process.exitCode = await runCli(process.argv.slice(2));
} catch (error) {
  // A bug of ours, not a runtime failure the commands already report.
  process.stderr.write(`switchboard: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
