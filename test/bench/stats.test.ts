import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median, medianInterval } from '../../bench/lib/stats.ts';

describe('bench medianInterval', () => {
  const spread = (count: number): number[] => Array.from({ length: count }, (_, index) => 0.9 + ((index * 37) % count) / count * 0.2);

  it('brackets the median, and the same samples give the same interval', () => {
    const values = spread(40);
    const interval = medianInterval(values);
    assert.ok(interval.low <= median(values) && median(values) <= interval.high, JSON.stringify(interval));
    assert.deepEqual(medianInterval(values), interval);
  });

  it('narrows as rounds are added, and is one point for identical samples', () => {
    const width = (values: number[]): number => {
      const { low, high } = medianInterval(values);
      return high - low;
    };
    assert.ok(width(spread(200)) < width(spread(10)), `${width(spread(200))} vs ${width(spread(10))}`);
    assert.deepEqual(medianInterval([1, 1, 1, 1]), { low: 1, high: 1 });
  });

  it('gives NaN bounds for no samples', () => {
    const { low, high } = medianInterval([]);
    assert.ok(Number.isNaN(low) && Number.isNaN(high));
  });
});
