/** Reading switchboard.toml: a good file into settings, and a catalogue of bad ones, each problem with its line, column and key path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblems } from '../../../src/cli/config/config-problems.ts';
import { parseConfig } from '../../../src/cli/config/load-config.ts';
import { tomlPositions } from '../../../src/cli/config/toml-positions.ts';

/** The problems of `text` as `up` prints them. */
function problemsOf(text: string): string[] {
  const result = parseConfig(text, '/etc/sb/switchboard.toml');
  assert.ok(result.problems, 'expected problems');
  return formatProblems('switchboard.toml', result.problems);
}

describe('tomlPositions', () => {
  it('finds keys under headers, dotted keys, array elements and inline tables', () => {
    const positions = tomlPositions('# c\n[services.chat]\nlisten = [ "a",\n  "b" ] # x\nenv = { A = "1", "B.C" = \'2\' }\n[services."x.y"]\na.b = """\nm\n"""\nc = 1\n');
    assert.deepEqual(positions.get('services.chat'), { line: 2, column: 1 });
    assert.deepEqual(positions.get('services.chat.listen'), { line: 3, column: 1 });
    assert.deepEqual(positions.get('services.chat.listen[0]'), { line: 3, column: 12 });
    assert.deepEqual(positions.get('services.chat.listen[1]'), { line: 4, column: 3 });
    assert.deepEqual(positions.get('services.chat.env.A'), { line: 5, column: 9 });
    assert.deepEqual(positions.get('services.chat.env."B.C"'), { line: 5, column: 18 });
    assert.deepEqual(positions.get('services."x.y".a.b'), { line: 7, column: 1 });
    assert.deepEqual(positions.get('services."x.y".c'), { line: 10, column: 1 });
  });
});

describe('parseConfig', () => {
  it('reads every kind of service, with its kind\'s defaults and paths from the file\'s directory', () => {
    const result = parseConfig(
      `[global]\nlog-format = "json"\ndrain-timeout = 3\npid-file = "run/sb.pid"\n\n[services.echo]\nbuiltin = "echo"\nlisten = ["127.0.0.1:7", "[::1]:7"]\nudp-rate = "5/s"\n\n[services.cat]\nprogram = "cat"\nlisten = ["127.0.0.1:7000"]\nmax-clients = 3\nallow = ["192.0.2.0/24"]\nenv = { LANG = "C" }\ncwd = "work"\n\n[services.chat]\nmodule = "chat.ts"\nlisten = [":7001"]\ntls-cert = "c.pem"\ntls-key = "k.pem"\nmax-output = "64KiB"\n\n[services.daytime]\nbuiltin = "daytime"\ntransports = ["udp"]\n`,
      '/etc/sb/switchboard.toml',
    );
    assert.equal(result.problems, undefined, JSON.stringify(result.problems));
    const { global, services } = result.config!;
    assert.deepEqual(global, { json: true, quiet: false, verbose: false, drainTimeout: 3000, pidFile: '/etc/sb/run/sb.pid', metrics: undefined, metricsPerWorker: false });
    const [echo, cat, chat, daytime] = services;
    assert.deepEqual([echo!.kind, echo!.idleTimeout, echo!.maxClients, echo!.transports, echo!.udp], ['builtin', 60_000, 256, ['tcp', 'udp'], { datagramsPerSecond: 5, replyBytesPerSecond: 65536 }]);
    assert.deepEqual(echo!.listen.map((address) => address.host), ['127.0.0.1', '::1']);
    assert.deepEqual([cat!.kind, cat!.program, cat!.maxClients, cat!.maxPerIp, cat!.idleTimeout, cat!.env, cat!.cwd], ['exec', 'cat', 3, 10, 300_000, { LANG: 'C' }, '/etc/sb/work']);
    assert.deepEqual(cat!.limitOptions, { allow: ['192.0.2.0/24'] });
    assert.deepEqual([chat!.kind, chat!.module, chat!.maxClients, chat!.tls?.cert, chat!.limitOptions.maxBufferedOutput], ['run', '/etc/sb/chat.ts', 1000, '/etc/sb/c.pem', 65536]);
    assert.deepEqual([daytime!.transports, daytime!.listen[0]!.text, daytime!.udp?.datagramsPerSecond], [['udp'], 'localhost:10013', 50]);
  });

  it('reads the PROXY trust, passed-socket names beside addresses, and the metrics address', () => {
    const result = parseConfig(
      `[global]\nmetrics = ":9100"\n\n[services.web]\nprogram = "cat"\nlisten = ["systemd:web", "127.0.0.1:7000", "systemd:web-tls", "systemd:web"]\nproxy-protocol = ["127.0.0.1/32", "::1"]\nproxy-untrusted = "direct"\n\n[services.echo]\nbuiltin = "echo"\nlisten = ["systemd:echo"]\n`,
      '/etc/sb/switchboard.toml',
    );
    assert.equal(result.problems, undefined, JSON.stringify(result.problems));
    const { global, services } = result.config!;
    assert.deepEqual(global.metrics, { host: undefined, port: 9100, text: ':9100' });
    const [web, echo] = services;
    assert.deepEqual([web!.listen.map((address) => address.text), web!.systemd, web!.proxyProtocol], [['127.0.0.1:7000'], ['web', 'web-tls'], { from: ['127.0.0.1/32', '::1'], untrusted: 'direct' }]);
    // Passed sockets only: no default address beside them.
    assert.deepEqual([echo!.listen, echo!.systemd, echo!.proxyProtocol], [[], ['echo'], undefined]);
  });

  // Each bad file, and the lines `up` and `check` print for it.
  const CATALOGUE: [string, string, string[]][] = [
    ['not TOML', '[services.a]\nbuiltin = echo\n', ['switchboard.toml:2:11: not valid TOML: invalid value']],
    ['a key given twice (TOML)', '[services.a]\nbuiltin = "echo"\nbuiltin = "time"\n', ['switchboard.toml:3:1: not valid TOML: trying to redefine an already defined table or value']],
    ['an unknown key, with the nearest name', '[services.a]\nbuiltin = "echo"\nmax-client = 4\n', ['switchboard.toml:3:1: services.a.max-client: unknown key "max-client" (did you mean "max-clients"?)']],
    ['an unknown section', '[servises.a]\nbuiltin = "echo"\n', ['switchboard.toml:1:1: servises: unknown section "servises" (did you mean "services"?)']],
    ['an unknown global key', '[global]\ndrain-timout = "1s"\n[services.a]\nbuiltin = "echo"\n', ['switchboard.toml:2:1: global.drain-timout: unknown key "drain-timout" (did you mean "drain-timeout"?)']],
    ['a wrong type', '[services.a]\nbuiltin = "echo"\nmax-clients = "ten"\n', ['switchboard.toml:3:1: services.a.max-clients: expected a non-negative integer, got a string ("ten")']],
    ['a bad duration', '[services.a]\nbuiltin = "echo"\nidle-timeout = "1 minute"\n', ['switchboard.toml:3:1: services.a.idle-timeout: "1 minute": expected a duration such as 10s, 500ms, 2m or 0']],
    ['an IPv6 address without brackets', '[services.chat]\nprogram = "cat"\nlisten = ["127.0.0.1:7000", "::1:7000"]\n', ['switchboard.toml:3:29: services.chat.listen[1]: "::1:7000": an IPv6 address goes in brackets: [::1]:7000']],
    ['a bad port', '[services.a]\nbuiltin = "echo"\nlisten = ["127.0.0.1:70000"]\n', ['switchboard.toml:3:11: services.a.listen[0]: "127.0.0.1:70000": the port must be an integer from 0 to 65535']],
    ['no kind', '[services.a]\nlisten = ["127.0.0.1:1"]\n', ['switchboard.toml:1:1: services.a: which service is it? Give it builtin = "echo" (a built-in service), program = "…" (exec) or module = "…" (run)']],
    ['two kinds', '[services.a]\nbuiltin = "echo"\nprogram = "cat"\nlisten = ["127.0.0.1:1"]\n', ['switchboard.toml:3:1: services.a.program: a service has one of builtin, program and module; this one also has builtin']],
    ['an unknown built-in', '[services.a]\nbuiltin = "ecko"\n', ['switchboard.toml:2:1: services.a.builtin: unknown service "ecko" (one of echo, discard, daytime, qotd, chargen, time)']],
    ['no listen for a program', '[services.a]\nprogram = "cat"\n', ['switchboard.toml:1:1: services.a: listen is required: listen = ["127.0.0.1:7000"] (HOST:PORT, [IPv6]:PORT, *:PORT, :PORT or systemd:NAME)']],
    ['a key of another kind', '[services.a]\nprogram = "cat"\nlisten = [":1"]\nudp-rate = "5/s"\n', ['switchboard.toml:4:1: services.a.udp-rate: udp-rate is for built-in services, not for program services']],
    ['TLS without its key', '[services.a]\nbuiltin = "echo"\ntls-cert = "c.pem"\n', ['switchboard.toml:3:1: services.a.tls-cert: needs tls-key (its private key)']],
    ['a bad allow entry', '[services.a]\nbuiltin = "echo"\nallow = ["192.0.2.0/33"]\n', ['switchboard.toml:3:10: services.a.allow[0]: "192.0.2.0/33": expected an IP address or a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32']],
    ['a bad env name', '[services.a]\nprogram = "cat"\nlisten = [":1"]\nenv = { "A-B" = "x" }\n', ['switchboard.toml:4:1: services.a.env: "A-B": a variable name is letters, digits and _']],
    ['a bad metrics address', '[global]\nmetrics = "9100"\n[services.a]\nbuiltin = "echo"\n', ['switchboard.toml:2:1: global.metrics: "9100": expected HOST:PORT, [IPv6]:PORT, *:PORT or :PORT']],
    ['a bad proxy-protocol entry', '[services.a]\nbuiltin = "echo"\nproxy-protocol = ["127.0.0.1", "198.18.0.0/33"]\n', ['switchboard.toml:3:32: services.a.proxy-protocol[1]: "198.18.0.0/33": expected an IP address or a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32']],
    ['proxy-untrusted alone', '[services.a]\nbuiltin = "echo"\nproxy-untrusted = "direct"\n', ['switchboard.toml:3:1: services.a.proxy-untrusted: needs proxy-protocol (the trusted balancers)']],
    ['a bad proxy-untrusted', '[services.a]\nbuiltin = "echo"\nproxy-protocol = ["::1"]\nproxy-untrusted = "allow"\n', ['switchboard.toml:4:1: services.a.proxy-untrusted: "allow": must be refuse or direct']],
    ['an empty proxy-protocol', '[services.a]\nbuiltin = "echo"\nproxy-protocol = []\n', ['switchboard.toml:3:1: services.a.proxy-protocol: must list at least one address or CIDR prefix (remove the key to turn the PROXY protocol off)']],
    ['proxy-protocol without tcp', '[services.a]\nbuiltin = "echo"\ntransports = ["udp"]\nproxy-protocol = ["::1"]\n', ['switchboard.toml:4:1: services.a.proxy-protocol: the PROXY protocol is for tcp; this service has no tcp transport']],
    ['a bad fd name', '[services.a]\nprogram = "cat"\nlisten = ["systemd:"]\n', ['switchboard.toml:3:11: services.a.listen[0]: "systemd:": expected systemd:NAME, NAME an fd name (FileDescriptorName=, --fdname) without \':\' or spaces']],
    [
      'one fd name for two services',
      '[services.a]\nbuiltin = "echo"\nlisten = ["systemd:web"]\n\n[services.b]\nprogram = "cat"\nlisten = ["127.0.0.1:0", "systemd:web"]\n',
      ['switchboard.toml:7:26: services.b.listen[1]: "systemd:web": services.a serves the fds named "web" too'],
    ],
    ['no service', '[global]\nquiet = true\n', ['switchboard.toml:1:1: services: no service: add a [services.NAME] table']],
    [
      'two services on one address',
      '[services.a]\nbuiltin = "echo"\nlisten = ["127.0.0.1:7000"]\n\n[services.b]\nprogram = "cat"\nlisten = ["[::1]:7001", "*:7000"]\n',
      ['switchboard.toml:7:25: services.b.listen[1]: "*:7000": services.a listens there too (tcp 127.0.0.1:7000)'],
    ],
    [
      'several problems: all of them, in the order of the file',
      '[services.a]\nbuiltin = "echo"\nmax-clients = -1\nlisten = ["::1:7"]\n[services.b]\nprogram = "cat"\nlisten = [":1"]\nidle = 1\n',
      [
        'switchboard.toml:3:1: services.a.max-clients: "-1": must be a non-negative integer (0 for no limit)',
        'switchboard.toml:4:11: services.a.listen[0]: "::1:7": an IPv6 address goes in brackets: [::1]:7',
        'switchboard.toml:8:1: services.b.idle: unknown key "idle"',
      ],
    ],
  ];
  for (const [what, text, expected] of CATALOGUE) {
    it(`reports ${what}`, () => {
      assert.deepEqual(problemsOf(text), expected);
    });
  }
});
