/**
 * inetd mode against the real peer: `systemd-socket-activate -a` accepts each connection and
 * runs test/activation/fixtures/inetd-echo.ts for it, with the connection on fd 3
 * (`LISTEN_FDS=1`), or on fds 0 and 1 with `--inetd`. The fixture greets with what it found,
 * then echoes until the peer closes, and exits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { connectClient, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { FIXTURES, HAS_SOCKET_ACTIVATE, socketActivate, type PortUse } from './activate.ts';

const FIXTURE = `${FIXTURES}inetd-echo.ts`;

interface Greeting {
  fd: number;
  origin: string;
  info: { localAddress: string; localPort: number; remoteAddress: string; remotePort: number; remoteFamily: string };
  tcpEnviron: Record<string, string>;
  listenEnv: string[];
}

const cases: { title: string; flags: string[]; host: string; use: PortUse; fd: number; origin: string }[] = [
  { title: '-a: the connection on fd 3 (LISTEN_FDS=1)', flags: ['-a'], host: '127.0.0.1', use: 'tcp4', fd: 3, origin: 'listen-fds' },
  { title: '-a over IPv6', flags: ['-a'], host: '::1', use: 'tcp6', fd: 3, origin: 'listen-fds' },
  { title: '--inetd -a: the connection on fds 0 and 1', flags: ['--inetd', '-a'], host: '127.0.0.1', use: 'tcp4', fd: 0, origin: 'stdio' },
];

describe('inetdConnection under systemd-socket-activate', { skip: !HAS_SOCKET_ACTIVATE && 'systemd-socket-activate is not installed (Debian package systemd)' }, () => {
  for (const { title, flags, host, use, fd, origin } of cases) {
    it(`serves one connection and exits when it ends: ${title}`, { skip: use === 'tcp6' && !hostHasIPv6() && 'no IPv6 on this host' }, async (t) => {
      const listen = host.includes(':') ? `[${host}]` : host;
      const { activated, port } = await socketActivate(t, [use], 1, (p) => [...flags, '-l', `${listen}:${p}`, process.execPath, FIXTURE]);
      const client = await connectClient(t, port, host);
      const greetingLine = (await client.waitForText('\n', 15_000)).split('\n')[0]!;
      const greeting = JSON.parse(greetingLine) as Greeting;
      assert.equal(greeting.fd, fd);
      assert.equal(greeting.origin, origin);
      assert.deepEqual(greeting.listenEnv, [], 'no LISTEN_* variable is left for children');
      assert.deepEqual(greeting.tcpEnviron, {
        PROTO: host.includes(':') ? 'TCP6' : 'TCP',
        TCPLOCALIP: host,
        TCPLOCALPORT: String(port),
        TCPREMOTEIP: host,
        TCPREMOTEPORT: String(client.socket.localPort),
      });

      client.send('echo me\n');
      await client.waitForText('echo me\n');
      client.socket.end();
      await within(client.closed, 'the instance to close the connection');
      assert.equal(client.received.toString(), `${greetingLine}\necho me\n`);
      assert.match(await activated.stderr.waitFor(/^Child \d+ died with code 0$/, 'the instance to exit 0'), /code 0/);
      activated.child.kill('SIGTERM');
      await activated.exit();
    });
  }

  it('fails with SWB_ERR_ACTIVATION_NO_CONNECTION when handed a listener instead', async (t) => {
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, process.execPath, FIXTURE]);
    const client = await connectClient(t, port);
    const line = await activated.stderr.waitFor(/^\{"event":"error"/, 'the fixture to fail', 15_000);
    const report = JSON.parse(line) as { code: string; message: string };
    assert.equal(report.code, 'SWB_ERR_ACTIVATION_NO_CONNECTION');
    assert.match(report.message, new RegExp(`^inetd mode: no connected socket: LISTEN_FDS passed fd 3 "unknown" \\(tcp 127\\.0\\.0\\.1:${port}\\), and fd 0 is not a connected socket \\(not-socket\\)$`));
    await client.close();
    await activated.exit();
  });
});
