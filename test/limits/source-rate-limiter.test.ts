import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RATE_TICK_MS, ReplyRateLimiter, SourceRateLimiter, sourceKey } from '../../src/limits/source-rate-limiter.ts';

const TICKS_PER_SECOND = 1000 / RATE_TICK_MS;

function admitted(limiter: SourceRateLimiter, source: string, count: number, size = 1): number {
  let passed = 0;
  for (let i = 0; i < count; i++) if (limiter.admit(source, size)) passed++;
  return passed;
}

function advance(limiter: { tick(): void }, ticks: number): void {
  for (let i = 0; i < ticks; i++) limiter.tick();
}

describe('SourceRateLimiter', () => {
  describe('#admit', () => {
    it('lets one second of datagrams through at once, then refills at the rate', () => {
      const limiter = new SourceRateLimiter({ datagrams: 50, bytes: 0, maxSources: 10 });
      assert.equal(admitted(limiter, 'a', 80), 50);
      advance(limiter, 1);
      assert.equal(admitted(limiter, 'a', 80), 5);
      advance(limiter, TICKS_PER_SECOND * 3);
      assert.equal(admitted(limiter, 'a', 80), 50, 'the bucket never holds more than one second');
    });

    it('limits bytes independently of datagrams', () => {
      const limiter = new SourceRateLimiter({ datagrams: 0, bytes: 1000, maxSources: 10 });
      assert.equal(admitted(limiter, 'a', 10, 300), 3);
      assert.equal(limiter.admit('a', 100), true, 'a smaller datagram still fits');
      assert.equal(limiter.admit('a', 1), false);
      advance(limiter, 2);
      assert.equal(admitted(limiter, 'a', 10, 100), 2);
    });

    it('applies both limits together', () => {
      const limiter = new SourceRateLimiter({ datagrams: 10, bytes: 500, maxSources: 10 });
      assert.equal(admitted(limiter, 'a', 20, 100), 5, 'bytes bind first for large datagrams');
      const other = new SourceRateLimiter({ datagrams: 10, bytes: 500, maxSources: 10 });
      assert.equal(admitted(other, 'a', 20, 1), 10, 'datagrams bind first for small ones');
    });

    it('keeps one bucket per source', () => {
      const limiter = new SourceRateLimiter({ datagrams: 2, bytes: 0, maxSources: 10 });
      assert.equal(admitted(limiter, 'a', 5), 2);
      assert.equal(admitted(limiter, 'b', 5), 2);
      assert.equal(limiter.sources, 2);
    });

    it('lets a rate below one per second through now and then', () => {
      const limiter = new SourceRateLimiter({ datagrams: 0.5, bytes: 0, maxSources: 10 });
      assert.equal(admitted(limiter, 'a', 3), 1);
      advance(limiter, TICKS_PER_SECOND);
      assert.equal(admitted(limiter, 'a', 3), 0);
      advance(limiter, TICKS_PER_SECOND);
      assert.equal(admitted(limiter, 'a', 3), 1);
    });

    it('puts sources beyond maxSources in one shared overflow bucket', () => {
      const limiter = new SourceRateLimiter({ datagrams: 3, bytes: 0, maxSources: 2 });
      assert.equal(admitted(limiter, 'a', 1), 1);
      assert.equal(admitted(limiter, 'b', 1), 1);
      assert.equal(admitted(limiter, 'c', 2) + admitted(limiter, 'd', 2) + admitted(limiter, 'e', 2), 3);
      assert.equal(limiter.sources, 2);
    });
  });

  describe('#tick', () => {
    it('forgets sources idle for a second, bounding memory without changing any verdict', () => {
      const limiter = new SourceRateLimiter({ datagrams: 2, bytes: 0, maxSources: 2 });
      admitted(limiter, 'a', 2);
      admitted(limiter, 'b', 2);
      advance(limiter, TICKS_PER_SECOND);
      assert.equal(admitted(limiter, 'a', 5), 2, 'a refilled bucket survives one rotation');
      advance(limiter, TICKS_PER_SECOND);
      assert.equal(limiter.sources, 1, 'b was idle a whole second and is forgotten');
      assert.equal(admitted(limiter, 'c', 5), 2, 'c takes the freed slot');
    });

    it('keeps a busy source across rotations', () => {
      const limiter = new SourceRateLimiter({ datagrams: 10, bytes: 0, maxSources: 5 });
      for (let second = 0; second < 5; second++) {
        assert.equal(admitted(limiter, 'busy', 100), 10);
        advance(limiter, TICKS_PER_SECOND);
      }
      assert.equal(limiter.sources, 1);
    });
  });
});

describe('sourceKey', () => {
  it('keys IPv4 sources by address', () => {
    assert.equal(sourceKey('192.0.2.7', 'IPv4'), '192.0.2.7');
  });

  it('keys IPv6 sources by their /64', () => {
    const cases: [string, string][] = [
      ['2001:db8:1:2::7', '2001:db8:1:2::/64'],
      ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['2001:db8::1:2:3:4', '2001:db8:0:0::/64'],
      ['2001:db8:0:5::', '2001:db8:0:5::/64'],
      ['::1', '0:0:0:0::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
      ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
      ['2001:DB8:00a::1', '2001:db8:a:0::/64'],
    ];
    for (const [address, key] of cases) assert.equal(sourceKey(address, 'IPv6'), key, address);
  });

  it('gives two hosts of one /64 the same key', () => {
    assert.equal(sourceKey('2001:db8:1:2::1', 'IPv6'), sourceKey('2001:db8:1:2:ffff::9', 'IPv6'));
    assert.notEqual(sourceKey('2001:db8:1:2::1', 'IPv6'), sourceKey('2001:db8:1:3::1', 'IPv6'));
  });
});

describe('ReplyRateLimiter', () => {
  it('pays while it is not empty, lets the last reply overdraw it, and refills a tenth of the rate per tick', () => {
    const budget = new ReplyRateLimiter(1000);
    assert.deepEqual([300, 300, 300, 300, 300].map((bytes) => budget.take(bytes)), [true, true, true, true, false], '1000 pays three and lets a fourth overdraw');
    advance(budget, 1);
    assert.equal(budget.take(1), false, '-200 + 100 is still in debt');
    advance(budget, 2);
    assert.equal(budget.take(100), true, 'out of debt after the refill');
  });

  it('passes a reply larger than the whole rate, then waits for the debt to be repaid', () => {
    const budget = new ReplyRateLimiter(100);
    assert.equal(budget.take(65_535), true);
    advance(budget, TICKS_PER_SECOND * 600);
    assert.equal(budget.take(1), false, '600 s repay 60 000 of the 65 435 owed');
    advance(budget, TICKS_PER_SECOND * 60);
    assert.equal(budget.take(1), true);
  });

  it('holds at most one second of its rate however long it idles', () => {
    const budget = new ReplyRateLimiter(1000);
    advance(budget, TICKS_PER_SECOND * 100);
    let paid = 0;
    while (budget.take(100)) paid++;
    assert.equal(paid, 10);
  });
});
