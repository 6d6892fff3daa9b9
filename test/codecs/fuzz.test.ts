import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFuzzSummary, runCodecFuzz } from './fuzz-harness.ts';
import { CODEC_FAMILIES } from './fuzz-models.ts';

// A fixed seed keeps `npm test` deterministic; `npm run fuzz` explores new seeds.
const SEED = 0x5b0a4d;
const CASES_PER_FAMILY = 30_000;

describe('codec fuzzing', () => {
  for (const [index, family] of CODEC_FAMILIES.entries()) {
    describe(family, () => {
      it(`matches the reference model and lets only CodecErrors escape in ${CASES_PER_FAMILY} random cases`, () => {
        const summary = runCodecFuzz({ cases: CASES_PER_FAMILY, seed: SEED + index, families: [family], maxFailures: 3 });
        assert.equal(summary.failures.length, 0, formatFuzzSummary(summary));
        assert.equal(summary.cases, CASES_PER_FAMILY);
        const counts = summary.families[family]!;
        assert.ok(counts.frames > CASES_PER_FAMILY, 'cases decode frames, not only errors');
        assert.ok((counts.errors.SWB_ERR_BAD_FRAME ?? 0) > 0, 'some cases are malformed or truncated');
        if (family !== 'fixed-length') assert.ok((counts.errors.SWB_ERR_FRAME_TOO_LARGE ?? 0) > 0, 'some cases are oversized');
      });
    });
  }
});
