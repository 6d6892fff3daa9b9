/**
 * The codec target of `npm run fuzz` (`test/helpers/fuzz-runner.ts`): every codec against its
 * reference model. Alone: `node test/codecs/fuzz.ts [--cases N] [--seed S] [--from I]`.
 */
import { defineFuzzTarget, runFuzzCommand } from '../helpers/fuzz-runner.ts';
import { formatFuzzSummary, runCodecFuzz } from './fuzz-harness.ts';

/** The `codecs` fuzz target. */
export const fuzzTarget = defineFuzzTarget('codecs', runCodecFuzz, formatFuzzSummary);

if (import.meta.main) process.exitCode = runFuzzCommand([fuzzTarget], process.argv.slice(2));
