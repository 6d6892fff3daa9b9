import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PendingBytes } from '../../src/codecs/pending-bytes.ts';

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

function holding(...pieces: Buffer[]): PendingBytes {
  const pending = new PendingBytes();
  for (const piece of pieces) pending.push(piece);
  return pending;
}

describe('PendingBytes', () => {
  describe('#push', () => {
    it('counts the bytes held and ignores empty pieces', () => {
      const pending = holding(bytes('ab'), bytes(''), bytes('c'));
      assert.equal(pending.length, 3);
      assert.equal(pending.lastByte(), 0x63);
      assert.equal(new PendingBytes().lastByte(), -1);
    });
  });

  describe('#take', () => {
    it('returns a view, not a copy, when the bytes lie in one piece', () => {
      const piece = bytes('hello');
      const taken = holding(piece).take(bytes(''), 1, 1);
      assert.deepEqual(taken, bytes('ell'));
      assert.equal(taken.buffer, piece.buffer);
      const extra = bytes('world');
      assert.equal(holding(bytes('hd')).take(extra, 2).buffer, extra.buffer);
    });

    it('copies once across pieces, skipping and trimming at either end', () => {
      const pending = holding(bytes('ab'), bytes('c'), bytes('de'));
      assert.deepEqual(pending.take(bytes('fg'), 1, 1), bytes('bcdef'));
      assert.equal(pending.length, 0);
    });

    it('trims bytes that lie in the held pieces when the extra piece is empty', () => {
      assert.deepEqual(holding(bytes('ab'), bytes('c\r')).take(undefined, 0, 1), bytes('abc'));
      assert.deepEqual(holding(bytes('ab'), bytes('\r')).take(undefined, 0, 1), bytes('ab'));
    });
  });

  describe('#copyTo', () => {
    it('copies a range that spans the held pieces and the extra piece', () => {
      const target = Buffer.alloc(3);
      holding(bytes('ab'), bytes('c')).copyTo(target, 1, 4, bytes('de'));
      assert.deepEqual(target, bytes('bcd'));
    });
  });
});
