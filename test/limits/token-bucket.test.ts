import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from '../../src/limits/token-bucket.ts';

function bucketAt(rate: number, burst: number): { bucket: TokenBucket; advance(ms: number): void } {
  let now = 1000;
  const bucket = new TokenBucket(() => now);
  bucket.configure(rate, burst);
  return { bucket, advance: (ms) => void (now += ms) };
}

function takeAll(bucket: TokenBucket, limit = 1000): number {
  let taken = 0;
  while (taken < limit && bucket.take()) taken++;
  return taken;
}

describe('TokenBucket', () => {
  it('admits everything at rate 0', () => {
    const { bucket } = bucketAt(0, 1);
    assert.equal(takeAll(bucket), 1000);
  });

  it('starts full, then refills at the rate up to the burst', () => {
    const { bucket, advance } = bucketAt(10, 5);
    assert.equal(takeAll(bucket), 5);
    advance(100);
    assert.equal(takeAll(bucket), 1);
    advance(250);
    assert.equal(takeAll(bucket), 2);
    advance(60_000);
    assert.equal(takeAll(bucket), 5);
  });

  it('handles fractional rates', () => {
    const { bucket, advance } = bucketAt(0.5, 1);
    assert.equal(takeAll(bucket), 1);
    advance(1999);
    assert.equal(bucket.take(), false);
    advance(1);
    assert.equal(bucket.take(), true);
  });

  it('drops tokens above a lowered burst and keeps the balance across a rate change', () => {
    const { bucket, advance } = bucketAt(100, 100);
    bucket.configure(1, 3);
    assert.equal(takeAll(bucket), 3);
    advance(1000);
    bucket.configure(2, 3);
    assert.equal(takeAll(bucket), 1);
  });
});
