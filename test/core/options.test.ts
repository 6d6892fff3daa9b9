import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError } from '../../src/core/errors.ts';
import { byteLengthOption, findUnknownKey, oneOfOption, optionNames, optionsObject, rejectUnknownKeys } from '../../src/core/options.ts';

interface Sample {
  timeout?: number;
  retries?: number;
}

const SAMPLE = optionNames<Sample>({ timeout: true, retries: true });
const NESTED = optionNames<Sample>({ timeout: true, retries: true }, 'policy');

describe('optionNames', () => {
  it('lists the names in the order given', () => {
    assert.deepEqual(SAMPLE.names, ['timeout', 'retries']);
    assert.equal(SAMPLE.has('retries'), true);
    assert.equal(SAMPLE.has('toString'), false);
  });
});

describe('rejectUnknownKeys', () => {
  it('names the unknown key and the nearest valid one, with the prefix of a nested bag', () => {
    assert.throws(() => rejectUnknownKeys({ timeout: 1, retires: 2 }, SAMPLE), { option: 'retires', message: 'unknown option "retires" (did you mean "retries"?)' });
    assert.throws(() => rejectUnknownKeys({ timeOut: 1 }, NESTED), { option: 'policy.timeOut', message: 'unknown option "policy.timeOut" (did you mean "policy.timeout"?)' });
    assert.throws(() => rejectUnknownKeys({ colour: 'red' }, SAMPLE), { message: 'unknown option "colour"' });
  });

  it('looks at own enumerable string keys only', () => {
    const inherited = Object.create({ bogus: 1 }) as object;
    assert.equal(findUnknownKey(inherited, SAMPLE), undefined);
    assert.equal(findUnknownKey({ [Symbol('x')]: 1, timeout: 1 }, SAMPLE), undefined);
    rejectUnknownKeys(Object.defineProperty({}, 'hidden', { value: 1, enumerable: false }), SAMPLE);
  });
});

describe('optionsObject', () => {
  it('refuses what is not a plain object before looking at keys', () => {
    for (const value of [null, [], 5, 'x']) {
      assert.throws(() => optionsObject('options', value as never, SAMPLE), (error: unknown) => error instanceof InvalidOptionError && error.option === 'options');
    }
    assert.deepEqual(optionsObject('options', undefined, SAMPLE), {});
  });
});

describe('byteLengthOption', () => {
  it('says positive or non-negative, then the runtime maximum', () => {
    assert.throws(() => byteLengthOption('size', 0, undefined, 1), { message: '`size` must be a positive integer, got 0' });
    assert.throws(() => byteLengthOption('size', -1, 0, 0), { message: '`size` must be a non-negative integer, got -1' });
    assert.throws(() => byteLengthOption('size', undefined, undefined, 1), { message: '`size` must be a positive integer, got undefined' });
    assert.throws(() => byteLengthOption('size', 2 ** 53, 1, 1), { message: /^`size` must be at most \d+, got 9007199254740992$/ });
    assert.equal(byteLengthOption('size', undefined, 7, 1), 7);
  });
});

describe('oneOfOption', () => {
  it('takes null as a value, not as the default', () => {
    assert.equal(oneOfOption('encoding', null, ['utf8', null], 'utf8'), null);
    assert.equal(oneOfOption('encoding', undefined, ['utf8', null], 'utf8'), 'utf8');
    assert.throws(() => oneOfOption('encoding', 'utf16', ['utf8', null], 'utf8'), { message: '`encoding` must be one of "utf8", null, got "utf16"' });
  });
});
