import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeHostSpec, resolveListenTargets, unmapAddress, type LookupFunction } from '../../src/net/addresses.ts';
import { ErrorCode, InvalidOptionError, OpError } from '../../src/core/errors.ts';

const fakeLookup =
  (table: Record<string, { address: string; family: number }[]>): LookupFunction =>
  async (name) => {
    const found = table[name];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return found;
  };

const hosts = async (spec: Parameters<typeof resolveListenTargets>[0], options = {}) =>
  (await resolveListenTargets(spec, 'tcp', options)).map((t) => `${t.host}/${t.family}${t.ipv6Only ? '/v6only' : ''}${t.literal ? '/literal' : ''}`);

describe('resolveListenTargets', () => {
  it('serves IPv4 any only when no host is given (the seed rule)', async () => {
    assert.deepEqual(await hosts(undefined), ['0.0.0.0/IPv4']);
    assert.deepEqual(await hosts(''), ['0.0.0.0/IPv4']);
  });

  it('treats 0.0.0.0 as an IPv4 literal', async () => {
    assert.deepEqual(await hosts('0.0.0.0'), ['0.0.0.0/IPv4/literal']);
  });

  it('makes :: and ::0 one dual-stack socket', async () => {
    assert.deepEqual(await hosts('::'), ['::/IPv6/literal']);
    assert.deepEqual(await hosts('::0'), ['::/IPv6/literal']);
    assert.deepEqual(await hosts('[::]'), ['::/IPv6/literal']);
  });

  it('honours the ipv6Only override for ::', async () => {
    assert.deepEqual(await hosts('::', { ipv6Only: true }), ['::/IPv6/v6only/literal']);
  });

  it('makes * one socket per family, the IPv6 one IPv6-only', async () => {
    assert.deepEqual(await hosts('*'), ['0.0.0.0/IPv4', '::/IPv6/v6only']);
    assert.deepEqual(await hosts('*', { ipv6Only: false }), ['0.0.0.0/IPv4', '::/IPv6/v6only']);
  });

  it('makes localhost both loopbacks whatever the resolver says', async () => {
    const lookup = fakeLookup({ localhost: [{ address: '127.0.0.1', family: 4 }] });
    assert.deepEqual(await hosts('localhost', { lookup }), ['127.0.0.1/IPv4', '::1/IPv6']);
    assert.deepEqual(await hosts('LocalHost', { lookup }), ['127.0.0.1/IPv4', '::1/IPv6']);
  });

  it('keeps every address a name resolves to, in order, deduplicated', async () => {
    const lookup = fakeLookup({
      'svc.test': [
        { address: '::1', family: 6 },
        { address: '127.0.0.2', family: 4 },
        { address: '0:0::1', family: 6 },
        { address: '127.0.0.2', family: 4 },
      ],
    });
    assert.deepEqual(await hosts('svc.test', { lookup }), ['::1/IPv6', '127.0.0.2/IPv4']);
  });

  it('takes the union of a list, removing duplicates across entries', async () => {
    const lookup = fakeLookup({ 'svc.test': [{ address: '127.0.0.3', family: 4 }] });
    assert.deepEqual(await hosts(['127.0.0.1', '[::1]', 'svc.test', '127.0.0.1', 'localhost'], { lookup }), [
      '127.0.0.1/IPv4/literal',
      '::1/IPv6/literal',
      '127.0.0.3/IPv4',
    ]);
  });

  it('strips brackets and keeps zone ids', async () => {
    assert.deepEqual(await hosts('[fe80::1%eth0]'), ['fe80::1%eth0/IPv6/literal']);
    assert.deepEqual(await hosts('fe80::0:1%lo'), ['fe80::1%lo/IPv6/literal']);
  });

  it('rejects an unresolvable name with a Go-style error and a stable code', async () => {
    const error = await resolveListenTargets('nosuch.invalid', 'tcp', { lookup: fakeLookup({}), port: 7000 }).catch((e: unknown) => e);
    assert.ok(error instanceof OpError);
    assert.equal(error.code, ErrorCode.NAME_NOT_RESOLVED);
    assert.equal(error.message, 'lookup tcp nosuch.invalid:7000: name not resolvable (ENOTFOUND)');
  });

  it('rejects malformed hosts with a named option error', async () => {
    await assert.rejects(resolveListenTargets(42 as unknown as string, 'tcp'), { code: ErrorCode.INVALID_OPTION, message: '`host` must be a string or a non-empty array of strings, got 42' });
    await assert.rejects(resolveListenTargets([], 'tcp'), InvalidOptionError);
    await assert.rejects(resolveListenTargets('a b', 'tcp'), { code: ErrorCode.INVALID_OPTION });
  });

  it('rejects brackets around something that is not IPv6', async () => {
    await assert.rejects(resolveListenTargets('[localhost]', 'tcp'), { code: ErrorCode.INVALID_OPTION });
  });
});

describe('normalizeHostSpec', () => {
  it('refuses a host that carries a port, pointing at the port option', () => {
    const cases: [string, string][] = [
      ['localhost:7600', '{ host: "localhost", port: 7600 }'],
      ['127.0.0.1:80', '{ host: "127.0.0.1", port: 80 }'],
      ['[::1]:7600', '{ host: "::1", port: 7600 }'],
      ['[fe80::1%eth0]:7', '{ host: "fe80::1%eth0", port: 7 }'],
      [' example.test:443 ', '{ host: "example.test", port: 443 }'],
    ];
    for (const [host, example] of cases) {
      assert.throws(() => normalizeHostSpec(['127.0.0.2', host]), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError, host);
        assert.equal(error.option, 'host');
        assert.equal(error.message, `\`host\` must not carry a port: give the port as the \`port\` option (${example}), got ${JSON.stringify(host)}`);
        return true;
      });
    }
  });

  it('takes bare and bracketed IPv6 literals, which hold colons but no port', () => {
    const literals = ['::1', '::', '[::1]', '2001:db8::7600', 'fe80::1%eth0', '::ffff:127.0.0.1', '1:2:3:4:5:6:7:8'];
    assert.deepEqual(normalizeHostSpec(literals), literals);
  });
});

describe('unmapAddress', () => {
  it('reports an IPv4-mapped peer as IPv4', () => {
    assert.deepEqual(unmapAddress('::ffff:127.0.0.1', 'IPv6'), { address: '127.0.0.1', family: 'IPv4' });
  });

  it('leaves real IPv6 and IPv4 addresses alone', () => {
    assert.deepEqual(unmapAddress('::1', 'IPv6'), { address: '::1', family: 'IPv6' });
    assert.deepEqual(unmapAddress('::ffff:1', 'IPv6'), { address: '::ffff:1', family: 'IPv6' });
    assert.deepEqual(unmapAddress('127.0.0.1', 'IPv4'), { address: '127.0.0.1', family: 'IPv4' });
  });
});
