import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../src/cli/exit-code.ts';
import { formatListenAddress, parseListenAddress, parseServiceAddress } from '../../src/cli/listen-address.ts';

describe('parseListenAddress', () => {
  it('reads HOST:PORT for an IPv4 address and a host name', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000, text: '127.0.0.1:7000' });
    assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0, text: 'localhost:0' });
  });

  it('reads [IPv6]:PORT, zone ids included', () => {
    assert.equal(parseListenAddress('[::1]:7000').host, '::1');
    assert.equal(parseListenAddress('[::]:7000').host, '::');
    assert.equal(parseListenAddress('[fe80::1%eth0]:7000').host, 'fe80::1%eth0');
  });

  it('reads *:PORT as both families and :PORT as IPv4 any', () => {
    assert.equal(parseListenAddress('*:7000').host, '*');
    assert.equal(parseListenAddress(':7000').host, undefined);
    assert.equal(parseListenAddress(':7000').port, 7000);
  });

  for (const [text, why] of [
    ['7000', /expected HOST:PORT/],
    ['localhost', /expected HOST:PORT/],
    ['::1:7000', /IPv6 address goes in brackets: \[::1\]:7000/],
    ['[127.0.0.1]:7000', /only an IPv6 address goes inside brackets/],
    ['[::1:7000', /expected/],
    ['host:65536', /port must be an integer from 0 to 65535/],
    ['host:-1', /port must be/],
    ['host:', /port must be/],
    ['host:7e3', /port must be/],
    ['bad/host:7000', /IPv4 address or a host name/],
  ] as const) {
    it(`refuses ${JSON.stringify(text)} naming the flag`, () => {
      assert.throws(() => parseListenAddress(text), (error: Error) => error instanceof UsageError && error.message.startsWith(`--listen ${JSON.stringify(text)}: `) && why.test(error.message));
    });
  }
});

describe('parseServiceAddress', () => {
  it('reads SERVICE=ADDRESS for a known service', () => {
    assert.deepEqual(parseServiceAddress('echo=[::1]:7', ['echo']), { host: '::1', port: 7, text: '[::1]:7', service: 'echo' });
  });

  it('reads a plain address without a service', () => {
    assert.equal(parseServiceAddress(':7', ['echo']).service, undefined);
  });

  it('refuses an unknown service, listing the known ones', () => {
    assert.throws(() => parseServiceAddress('ecko=:7', ['echo', 'time']), /unknown service "ecko" \(one of echo, time\)/);
  });
});

describe('formatListenAddress', () => {
  it('brackets IPv6 and writes IPv4 any as :PORT', () => {
    assert.equal(formatListenAddress('::1', 7), '[::1]:7');
    assert.equal(formatListenAddress('127.0.0.1', 7), '127.0.0.1:7');
    assert.equal(formatListenAddress(undefined, 7), ':7');
  });
});
