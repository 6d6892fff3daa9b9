/**
 * The PROXY parser fuzz run. Inside `npm test` it is 100,002 cases from a fixed seed; for a long
 * run give the count and a seed (a random one when left out), e.g.
 * `PROXY_FUZZ_CASES=1000000 node --test test/proxy/fuzz.test.ts`, and replay a failure with
 * the command the report prints (`PROXY_FUZZ_SEED`, `PROXY_FUZZ_FROM`, `PROXY_FUZZ_CASES=1`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FUZZ_KINDS, formatProxyFuzzSummary, runProxyFuzz } from './fuzz-harness.ts';

const DEFAULT_SEED = 0x9e0c7a;
const DEFAULT_CASES = 100_002; // a multiple of the three kinds, over the 100,000

const cases = countFromEnvironment('PROXY_FUZZ_CASES', DEFAULT_CASES);
const configured = process.env.PROXY_FUZZ_CASES !== undefined;
const seed = countFromEnvironment('PROXY_FUZZ_SEED', configured ? Math.floor(Math.random() * 2 ** 31) : DEFAULT_SEED);
const firstCase = countFromEnvironment('PROXY_FUZZ_FROM', 0);
// Bounded in time as in count: about 6 s per 100,000 cases on an idle machine, allowed 110 s.
const timeout = Math.max(1, Math.ceil(cases / 100_000)) * 110_000;

function countFromEnvironment(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return value;
}

describe('PROXY parser fuzzing', () => {
  it(`lets only ProxyProtocolErrors out, splits nothing differently and round-trips every encoded header in ${cases} cases (seed ${seed})`, { timeout }, () => {
    const summary = runProxyFuzz({ cases, seed, firstCase, maxFailures: 3 });
    if (configured) console.log(formatProxyFuzzSummary(summary));
    assert.equal(summary.failures.length, 0, formatProxyFuzzSummary(summary));
    assert.equal(summary.cases, cases);
    if (cases < DEFAULT_CASES) return; // a replay or a short run: the checks above are the point
    for (const kind of FUZZ_KINDS) assert.ok((summary.kinds[kind]?.cases ?? 0) >= Math.floor(cases / FUZZ_KINDS.length), kind);
    const roundTrip = summary.kinds['round-trip']!;
    assert.ok(roundTrip.complete > roundTrip.cases * 0.7, 'most round trips complete');
    const mutated = summary.kinds.mutated!;
    assert.ok(mutated.complete > 0 && mutated.complete < mutated.cases, 'mutations both survive and break headers');
    const seen = new Set(FUZZ_KINDS.flatMap((kind) => Object.keys(summary.kinds[kind]!.errors)));
    for (const code of ['BAD_HEADER', 'HEADER_MISSING', 'HEADER_TOO_LARGE', 'CHECKSUM_MISMATCH', 'TRUNCATED', 'VERSION_REFUSED']) {
      assert.ok(seen.has(`SWB_ERR_PROXY_${code}`), `some case fails with SWB_ERR_PROXY_${code}`);
    }
  });
});
