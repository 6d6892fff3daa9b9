import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/exit-code.ts';
import { readModuleOptions } from '../../src/cli/module-options.ts';

describe('readModuleOptions', () => {
  it('takes the server options a module may set', () => {
    const options = { noDelay: true, firstByteTimeout: 5000, maxLifetime: 60_000, busyMessage: 'busy\r\n', allow: ['127.0.0.0/8'], maxConnections: 3 };
    assert.equal(readModuleOptions('m.ts', options), options);
    assert.deepEqual(readModuleOptions('m.ts', undefined), {});
  });

  it('refuses an unknown name, naming the nearest valid one', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ idleTimeOut: 5 }, 'unknown option "idleTimeOut" in its options export (did you mean "idleTimeout"?)'],
      [{ noDleay: true }, 'unknown option "noDleay" in its options export (did you mean "noDelay"?)'],
      [{ firstByteTimout: 1 }, 'unknown option "firstByteTimout" in its options export (did you mean "firstByteTimeout"?)'],
      [{ bogus: 1 }, 'unknown option "bogus" in its options export'],
      [{ [Symbol('x')]: 1 }, 'unknown option "Symbol(x)" in its options export'],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => readModuleOptions('m.ts', options), (error: unknown) => error instanceof UsageError && error.message === `MODULE "m.ts": ${message}` && error.command === 'run');
    }
  });

  it('refuses what the command line owns, and points partialFrameTimeout at framed()', () => {
    assert.throws(() => readModuleOptions('m.ts', { port: 7000 }), /^UsageError: MODULE "m\.ts": options\.port is --listen's to set$/);
    assert.throws(() => readModuleOptions('m.ts', { host: '::1' }), /options\.host is --listen's to set$/);
    assert.throws(() => readModuleOptions('m.ts', { signal: AbortSignal.timeout(1) }), /options\.signal is not for a module/);
    assert.throws(() => readModuleOptions('m.ts', { partialFrameTimeout: 1 }), /options\.partialFrameTimeout is an option of framed\(\), not of the server/);
  });

  it('refuses reuseAddress, which TCP does not offer, pointing to the docs', () => {
    assert.throws(() => readModuleOptions('m.ts', { reuseAddress: true }), /options\.reuseAddress is not a TCP option: SO_REUSEADDR is always on .*docs\/addresses\.md/);
  });

  it('refuses options that are not an object', () => {
    for (const [value, what] of [[null, 'null'], [[1], 'an array'], [7, 'number'], ['x', 'string']] as const) {
      assert.throws(() => readModuleOptions('m.ts', value), new RegExp(`its options export must be an object of server options, got ${what}$`));
    }
  });
});
