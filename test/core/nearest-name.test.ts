import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nearestName } from '../../src/core/nearest-name.ts';

describe('nearestName', () => {
  const names = ['idleTimeout', 'noDelay', 'port', 'host', 'maxConnections', 'maxConnectionsPerAddress'];

  it('finds a name in another case, or a few edits away', () => {
    assert.equal(nearestName('IDLETIMEOUT', names), 'idleTimeout');
    assert.equal(nearestName('prot', names), 'port');
    assert.equal(nearestName('maxConnection', names), 'maxConnections');
    assert.equal(nearestName('maxConectionsPerAdress', names), 'maxConnectionsPerAddress');
  });

  it('guesses nothing when nothing is close', () => {
    assert.equal(nearestName('path', names), undefined);
    assert.equal(nearestName('x', names), undefined);
    assert.equal(nearestName('timeout', names), undefined);
  });
});
