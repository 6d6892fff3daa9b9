/**
 * The one command line behind `npm run fuzz`: it reads `--cases N`, `--seed S`, `--from I` and
 * `--only NAME` once, runs every fuzz target it is given with the same seed and count, prints a
 * header and each target's report, and exits 1 when any case failed (2 on a usage error).
 *
 *   node test/helpers/fuzz-runner.ts TARGET_MODULE… [--cases N] [--seed S] [--from I] [--only NAME]
 *
 * A target module exports `fuzzTarget` (a {@link FuzzTarget}); `test/codecs/fuzz.ts` and
 * `test/proxy/fuzz.ts` are the two, and each also runs alone when executed directly.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** What every target is asked to run. */
export interface FuzzRun {
  cases: number;
  /** Seed of the whole run: case `i` replays alone from the seed and `i`. */
  seed: number;
  firstCase: number;
}

/** What a target reports back. */
export interface FuzzReport {
  failures: number;
  /** A readable summary, with a replay command for each failed case ({@link fuzzReplayCommand}). */
  text: string;
}

/** One fuzzer the runner can drive. */
export interface FuzzTarget {
  /** What `--only` selects it by, and what its replay command names. */
  name: string;
  run(run: FuzzRun): FuzzReport;
}

/** A target from a fuzzer's run and format functions (a summary with a `failures` list). */
export function defineFuzzTarget<Summary extends { failures: readonly unknown[] }>(
  name: string,
  run: (run: FuzzRun) => Summary,
  format: (summary: Summary) => string,
): FuzzTarget {
  return {
    name,
    run(options) {
      const summary = run(options);
      return { failures: summary.failures.length, text: format(summary) };
    },
  };
}

/** The default count per target: the one million. */
export const DEFAULT_FUZZ_CASES = 1_000_000;

/** The command that replays case `index` of target `name` from the run seeded `seed`, alone. */
export function fuzzReplayCommand(name: string, seed: number, index: number): string {
  return `npm run fuzz -- --only ${name} --seed ${seed} --from ${index} --cases 1`;
}

/** Runs `targets` (those `--only` names, or all) as `argv` says, printing to `print`; returns the exit code. */
export function runFuzzCommand(targets: readonly FuzzTarget[], argv: readonly string[], print: (text: string) => void = console.log): number {
  const parsed = parseFuzzArguments(argv, targets);
  if (typeof parsed === 'string') {
    print(parsed);
    return 2;
  }
  const { run, chosen } = parsed;
  print(`fuzzing ${chosen.map((target) => target.name).join(', ')}: seed ${run.seed}, ${run.cases} cases each from case ${run.firstCase}, Node ${process.version}`);
  let failures = 0;
  for (const target of chosen) {
    print(`\n${target.name}`);
    const report = target.run(run);
    print(report.text);
    failures += report.failures;
  }
  return failures === 0 ? 0 : 1;
}

/** The options, or the usage error to print. */
function parseFuzzArguments(argv: readonly string[], targets: readonly FuzzTarget[]): { run: FuzzRun; chosen: FuzzTarget[] } | string {
  const usage = `usage: npm run fuzz -- [--cases N] [--seed S] [--from I] [--only ${targets.map((target) => target.name).join('|')}]`;
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        cases: { type: 'string', default: String(DEFAULT_FUZZ_CASES) },
        seed: { type: 'string' },
        from: { type: 'string', default: '0' },
        only: { type: 'string', multiple: true },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return `${(error as Error).message}\n${usage}`;
  }
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const run: FuzzRun = { cases: Number(values.cases), seed, firstCase: Number(values.from) };
  for (const [name, value] of [['--cases', run.cases], ['--seed', run.seed], ['--from', run.firstCase]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) return `${name} must be a non-negative integer\n${usage}`;
  }
  if (run.seed > 0xffffffff) return `--seed must be below 2^32 (seeds are 32-bit)\n${usage}`;
  const names = (values.only ?? []).flatMap((list) => list.split(',')).filter(Boolean);
  const unknown = names.filter((name) => !targets.some((target) => target.name === name));
  if (unknown.length > 0) return `--only: no fuzz target is called ${unknown.join(', ')}\n${usage}`;
  const chosen = targets.filter((target) => names.length === 0 || names.includes(target.name));
  return { run, chosen };
}

/** Loads the `fuzzTarget` export of each module path (relative to the working directory). */
async function loadTargets(modules: readonly string[]): Promise<FuzzTarget[]> {
  const targets: FuzzTarget[] = [];
  for (const module of modules) {
    const loaded = (await import(pathToFileURL(path.resolve(module)).href)) as { fuzzTarget?: FuzzTarget };
    if (loaded.fuzzTarget === undefined) throw new Error(`${module} does not export fuzzTarget`);
    targets.push(loaded.fuzzTarget);
  }
  return targets;
}

if (import.meta.main) {
  // The module paths come first, the options after them (npm appends `-- …` to the script).
  const split = process.argv.slice(2).findIndex((arg) => arg.startsWith('-'));
  const args = process.argv.slice(2);
  const modules = split === -1 ? args : args.slice(0, split);
  const options = split === -1 ? [] : args.slice(split);
  if (modules.length === 0) {
    console.error('usage: node test/helpers/fuzz-runner.ts TARGET_MODULE… [options]');
    process.exitCode = 2;
  } else {
    // Not a top-level await: the target modules import this one, which must finish evaluating first.
    loadTargets(modules).then(
      (targets) => {
        process.exitCode = runFuzzCommand(targets, options);
      },
      (error: unknown) => {
        console.error(error);
        process.exitCode = 2;
      },
    );
  }
}
