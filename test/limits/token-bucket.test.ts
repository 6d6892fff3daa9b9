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

describe('TokenBucket on a tick clock', () => {
  function ticking(rate: number, capacity: number): { bucket: TokenBucket; tick(count?: number): void } {
    let ticks = 0;
    const bucket = new TokenBucket(() => ticks, 10);
    bucket.configure(rate, capacity);
    return { bucket, tick: (count = 1) => void (ticks += count) };
  }

  it('refills rate / unitsPerSecond per unit of its clock', () => {
    const { bucket, tick } = ticking(50, 50);
    assert.equal(takeAll(bucket), 50);
    tick();
    assert.equal(takeAll(bucket), 5);
  });

  it('#has looks without taking, and #take takes a count at once or nothing', () => {
    const { bucket } = ticking(10, 10);
    assert.equal(bucket.has(10), true);
    assert.equal(bucket.take(7), true);
    assert.equal(bucket.has(4), false);
    assert.equal(bucket.take(4), false, 'nothing taken');
    assert.equal(bucket.take(3), true);
  });

  it('#borrow pays any cost while not empty, then repays the debt first', () => {
    const { bucket, tick } = ticking(100, 100);
    assert.equal(bucket.borrow(250), true, 'more than the whole bucket');
    tick(10);
    assert.equal(bucket.borrow(1), false, '-150 + 100 is still in debt');
    tick(10);
    assert.equal(bucket.borrow(1), true);
  });

  it('admits everything at rate 0, whatever the count', () => {
    const { bucket } = ticking(0, 1);
    assert.equal(bucket.take(1e9), true);
    assert.equal(bucket.borrow(1e9), true);
  });
});
