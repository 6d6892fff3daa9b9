/**
 * The PROXY target of `npm run fuzz` (`test/helpers/fuzz-runner.ts`): the parser and encoder
 * fuzzed as `fuzz-harness.ts` describes. Alone: `node test/proxy/fuzz.ts [--cases N] [--seed S] [--from I]`.
 */
import { defineFuzzTarget, runFuzzCommand } from '../helpers/fuzz-runner.ts';
import { formatProxyFuzzSummary, runProxyFuzz } from './fuzz-harness.ts';

/** The `proxy` fuzz target. */
export const fuzzTarget = defineFuzzTarget('proxy', runProxyFuzz, formatProxyFuzzSummary);

if (import.meta.main) process.exitCode = runFuzzCommand([fuzzTarget], process.argv.slice(2));
