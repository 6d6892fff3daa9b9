import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_FUZZ_CASES, fuzzReplayCommand, runFuzzCommand } from './fuzz-runner.ts';
import type { FuzzRun, FuzzTarget } from './fuzz-runner.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** A target that records what it was asked to run and fails when told to. */
function recordingTarget(name: string, failures = 0): FuzzTarget & { runs: FuzzRun[] } {
  const runs: FuzzRun[] = [];
  return { name, runs, run: (run) => (runs.push(run), { failures, text: `${name} report` }) };
}

function runQuietly(targets: readonly FuzzTarget[], argv: readonly string[]): { code: number; printed: string } {
  const lines: string[] = [];
  const code = runFuzzCommand(targets, argv, (text) => lines.push(text));
  return { code, printed: lines.join('\n') };
}

describe('runFuzzCommand', () => {
  it('runs every target with the same count, seed and first case, and prints each report', () => {
    const [a, b] = [recordingTarget('a'), recordingTarget('b')];
    const { code, printed } = runQuietly([a, b], ['--cases', '12', '--seed', '99', '--from', '5']);
    assert.equal(code, 0);
    assert.deepEqual(a.runs, [{ cases: 12, seed: 99, firstCase: 5 }]);
    assert.deepEqual(b.runs, a.runs);
    assert.match(printed, /seed 99, 12 cases each from case 5/);
    assert.match(printed, /a report[\s\S]*b report/);
  });

  it('defaults to a million cases from case 0 and a random 31-bit seed, printed', () => {
    const a = recordingTarget('a');
    const { printed } = runQuietly([a], []);
    const [run] = a.runs;
    assert.equal(run?.cases, DEFAULT_FUZZ_CASES);
    assert.equal(run?.firstCase, 0);
    assert.ok(Number.isSafeInteger(run?.seed) && run!.seed >= 0 && run!.seed < 2 ** 31);
    assert.match(printed, new RegExp(`seed ${run!.seed},`));
  });

  it('runs only the targets --only names', () => {
    const [a, b, c] = [recordingTarget('a'), recordingTarget('b'), recordingTarget('c')];
    assert.equal(runQuietly([a, b, c], ['--only', 'c,a', '--cases', '1']).code, 0);
    assert.deepEqual([a.runs.length, b.runs.length, c.runs.length], [1, 0, 1]);
  });

  it('exits 1 when any target reports a failure, after running the others', () => {
    const [a, b] = [recordingTarget('a', 2), recordingTarget('b')];
    assert.equal(runQuietly([a, b], ['--cases', '1']).code, 1);
    assert.equal(b.runs.length, 1);
  });

  it('exits 2 with the usage on a bad option, running nothing', () => {
    for (const argv of [['--cases', '-1'], ['--seed', 'x'], ['--seed', String(2 ** 32)], ['--from', '1.5'], ['--only', 'nope'], ['--bogus'], ['stray']]) {
      const a = recordingTarget('a');
      const { code, printed } = runQuietly([a], argv);
      assert.equal(code, 2, argv.join(' '));
      assert.match(printed, /usage: npm run fuzz -- .*--only a/, argv.join(' '));
      assert.equal(a.runs.length, 0);
    }
  });

  it('names a replay command that selects the target and the case', () => {
    assert.equal(fuzzReplayCommand('proxy', 7, 41), 'npm run fuzz -- --only proxy --seed 7 --from 41 --cases 1');
  });
});

describe('npm run fuzz', () => {
  it('runs the codec and the PROXY fuzzers from the package script', { timeout: 60_000 }, async () => {
    const script = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')).scripts.fuzz as string;
    const [command, ...args] = script.split(' ');
    assert.equal(command, 'node');
    const { stdout } = await promisify(execFile)(process.execPath, [...args, '--cases', '300', '--seed', '11'], { cwd: repoRoot, timeout: 50_000 });
    assert.match(stdout, /fuzzing codecs, proxy: seed 11, 300 cases each/);
    assert.match(stdout, /^codecs\nseed 11: 300 cases/m);
    assert.match(stdout, /^proxy\n300 cases in \d+ ms, seed 11/m);
  });
});
