import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { describe, it } from 'node:test';
import { AccessRules } from '../../src/limits/access-rules.ts';
import { ErrorCode, InvalidOptionError, RejectCause } from '../../src/index.ts';

describe('AccessRules', () => {
  it('admits everyone without lists', () => {
    const rules = new AccessRules();
    assert.equal(rules.check('198.18.0.1', 'IPv4'), undefined);
    assert.deepEqual(rules.get(), { allow: null, deny: null });
  });

  it('refuses addresses and CIDR prefixes on the deny list, of both families', () => {
    const rules = new AccessRules();
    rules.set({ deny: ['198.18.0.0/15', '192.0.2.7', '2001:db8::/32'] });
    assert.equal(rules.check('198.19.200.1', 'IPv4'), RejectCause.DENIED);
    assert.equal(rules.check('192.0.2.7', 'IPv4'), RejectCause.DENIED);
    assert.equal(rules.check('192.0.2.8', 'IPv4'), undefined);
    assert.equal(rules.check('2001:db8:ffff::1', 'IPv6'), RejectCause.DENIED);
    assert.equal(rules.check('2001:db9::1', 'IPv6'), undefined);
  });

  it('admits only the allow list when there is one, and deny wins over allow', () => {
    const rules = new AccessRules();
    rules.set({ allow: ['127.0.0.0/8'], deny: ['127.0.0.2'] });
    assert.equal(rules.check('127.0.0.1', 'IPv4'), undefined);
    assert.equal(rules.check('127.0.0.2', 'IPv4'), RejectCause.DENIED);
    assert.equal(rules.check('198.18.0.1', 'IPv4'), RejectCause.NOT_ALLOWED);
  });

  it('matches an IPv4 rule against an IPv4-mapped IPv6 peer', () => {
    const rules = new AccessRules();
    rules.set({ deny: ['198.18.0.0/15'] });
    assert.equal(rules.check('::ffff:198.18.1.1', 'IPv6'), RejectCause.DENIED);
  });

  it('replaces only the lists given; null removes one; an empty array means no list', () => {
    const rules = new AccessRules();
    rules.set({ allow: ['127.0.0.1'], deny: ['198.18.0.1'] });
    rules.set({ deny: null });
    assert.deepEqual(rules.get(), { allow: ['127.0.0.1'], deny: null });
    rules.set({ allow: [] });
    assert.equal(rules.check('198.18.9.9', 'IPv4'), undefined);
  });

  it('uses a caller-owned BlockList live', () => {
    const list = new BlockList();
    const rules = new AccessRules();
    rules.set({ deny: list });
    assert.equal(rules.check('198.51.100.1', 'IPv4'), undefined);
    list.addAddress('198.51.100.1');
    assert.equal(rules.check('198.51.100.1', 'IPv4'), RejectCause.DENIED);
    assert.equal(rules.get().deny, list);
  });

  it('throws a named error for a bad entry and keeps the lists it had', () => {
    const rules = new AccessRules();
    rules.set({ deny: ['198.18.0.1'] });
    for (const bad of [['not-an-ip'], ['198.18.0.0/33'], ['::/129'], ['198.18.0.0/x'], [42]]) {
      assert.throws(() => rules.set({ allow: ['127.0.0.1'], deny: bad as string[] }), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.equal(error.code, ErrorCode.INVALID_OPTION);
        assert.equal(error.option, 'deny');
        return true;
      });
    }
    assert.deepEqual(rules.get(), { allow: null, deny: ['198.18.0.1'] });
  });
});
