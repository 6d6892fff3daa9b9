import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addLedgers, retiredLedger } from '../../src/workers/sum-stats.ts';

describe('addLedgers', () => {
  it('adds numbers field by field, nested tables included', () => {
    assert.deepEqual(addLedgers({ accepted: 2, closedBy: { 'peer-end': 1 } }, { accepted: 3, closedBy: { 'peer-end': 4, limit: 1 } }), { accepted: 5, closedBy: { 'peer-end': 5, limit: 1 } });
    assert.deepEqual(addLedgers(undefined, { accepted: 1 }), { accepted: 1 });
  });
});

describe('retiredLedger', () => {
  it('keeps the counters of a dead worker and zeroes its gauges', () => {
    assert.deepEqual(retiredLedger({ accepted: 7, sessions: 2, listeners: 1, closedBy: { limit: 1 } }), { accepted: 7, sessions: 0, listeners: 0, closedBy: { limit: 1 } });
  });
});
