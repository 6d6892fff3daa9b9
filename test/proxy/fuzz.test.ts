/**
 * The PROXY parser fuzz run inside `npm test`: 100,002 cases from a fixed seed. Longer runs, other
 * seeds and replays of a failed case go through `npm run fuzz -- --only proxy` (`fuzz.ts`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FUZZ_KINDS, formatProxyFuzzSummary, runProxyFuzz } from './fuzz-harness.ts';

const SEED = 0x9e0c7a;
const CASES = 100_002; // a multiple of the three kinds, over the 100,000

describe('PROXY parser fuzzing', () => {
  it(`lets only ProxyProtocolErrors out, splits nothing differently and round-trips every encoded header in ${CASES} cases (seed ${SEED})`, () => {
    const summary = runProxyFuzz({ cases: CASES, seed: SEED, maxFailures: 3 });
    assert.equal(summary.failures.length, 0, formatProxyFuzzSummary(summary));
    assert.equal(summary.cases, CASES);
    for (const kind of FUZZ_KINDS) assert.ok((summary.kinds[kind]?.cases ?? 0) >= CASES / FUZZ_KINDS.length, kind);
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
