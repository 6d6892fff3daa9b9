/**
 * `npm run fuzz [-- --cases N] [--seed S] [--from I]`: fuzzes every codec against its reference
 * model, prints the seed and a summary, and exits 1 on any failure, with a replay command.
 */
import { parseArgs } from 'node:util';
import { formatFuzzSummary, runCodecFuzz } from './fuzz-harness.ts';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000000' },
    seed: { type: 'string' },
    from: { type: 'string', default: '0' },
  },
});

const cases = Number(values.cases);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const firstCase = Number(values.from);
for (const [name, value] of [['--cases', cases], ['--seed', seed], ['--from', firstCase]] as const) {
  if (!Number.isSafeInteger(value) || value < 0) {
    console.error(`${name} must be a non-negative integer`);
    process.exit(2);
  }
}

console.log(`fuzzing codecs: seed ${seed}, ${cases} cases from case ${firstCase}, Node ${process.version}`);
const summary = runCodecFuzz({ cases, seed, firstCase });
console.log(formatFuzzSummary(summary));
process.exitCode = summary.failures.length === 0 ? 0 : 1;
