/**
 * The servers' `systemd` option: checked at construction (in process), and, under the real
 * `systemd-socket-activate`, adopted sockets serving as bound ones, listed with their origin,
 * and closed with the server (test/activation/fixtures/serve-adopted.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TcpServer, UdpServer, listenTcp } from '../../src/index.ts';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { connectClient, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { tcpExchange, udpClient } from '../cli/clients.ts';
import { FIXTURES, HAS_SOCKET_ACTIVATE, socketActivate } from './activate.ts';

const FIXTURE = `${FIXTURES}serve-adopted.ts`;
const NODE = process.execPath;

describe('the systemd option', () => {
  describe('checked at construction', () => {
    const bad: [string, () => unknown, RegExp][] = [
      ['with host', () => new TcpServer({ systemd: true, host: '127.0.0.1' }), /^`systemd` must not be given together with `host` or `port`/],
      ['with port', () => new UdpServer({ systemd: 'dns', port: 53 }), /^`systemd` must not be given together with `host` or `port`/],
      ['an empty name', () => new TcpServer({ systemd: '' }), /^`systemd` fd names must be non-empty strings/],
      ['a name with a colon', () => new TcpServer({ systemd: ['a:b'] }), /^`systemd` fd names must be/],
      ['a number', () => new TcpServer({ systemd: 3 as never }), /^`systemd` must be true, an fd name/],
      ['an unknown key', () => new TcpServer({ systemd: { name: 'echo' } as never }), /^`systemd\.name` is not an option of `systemd`/],
      ['fd numbers below 3', () => new TcpServer({ systemd: { fds: [0] } }), /^`systemd\.fds` must be a non-empty array of fd numbers from 3/],
      ['names and fds both', () => new TcpServer({ systemd: { names: 'a', fds: [3] } }), /^`systemd` takes one of `names`, `fds` and `inetd`/],
      ['inetd for UDP', () => new UdpServer({ systemd: { inetd: true } }), /^`systemd\.inetd` is for TCP servers/],
    ];
    for (const [title, build, message] of bad) {
      it(`refuses ${title} with SWB_ERR_INVALID_OPTION`, () => {
        assert.throws(build, { code: 'SWB_ERR_INVALID_OPTION', message });
      });
    }

    it('accepts false as no option at all', async () => {
      const server = new TcpServer({ systemd: false as never, host: '127.0.0.1' });
      await server.listen();
      assert.equal(server.addresses[0]?.origin, undefined);
      await server.close();
    });
  });

  describe('listen()', () => {
    it('rejects with SWB_ERR_ACTIVATION_NO_SOCKETS when nothing was passed, saying why', async () => {
      await assert.rejects(listenTcp({ systemd: { env: {} } }), { code: 'SWB_ERR_ACTIVATION_NO_SOCKETS', message: /LISTEN_FDS is not set$/ });
    });

    it('ignores fds meant for another process (LISTEN_PID mismatch)', async () => {
      const env = { LISTEN_PID: String(process.pid + 1), LISTEN_FDS: '1' };
      await assert.rejects(listenTcp({ systemd: { env } }), { code: 'SWB_ERR_ACTIVATION_NO_SOCKETS', message: new RegExp(`LISTEN_PID=${process.pid + 1} is another process \\(this is ${process.pid}\\)$`) });
    });

    it('rejects fds by number that were not passed', async () => {
      await assert.rejects(listenTcp({ systemd: { fds: [7], env: {} } }), { code: 'SWB_ERR_ACTIVATION_NO_SOCKETS', message: /^socket activation: fd 7 was not passed to this process \(none were: LISTEN_FDS is not set\)$/ });
    });

    it('finds no connection for inetd mode outside one (fd 0 is the runner\'s pipe, or nothing)', async () => {
      await assert.rejects(listenTcp({ systemd: { inetd: true, env: {} } }), { code: /^SWB_ERR_ACTIVATION_(NO_CONNECTION|FD_TYPE)$/, message: /^inetd mode: / });
    });
  });
});

describe('the systemd option under systemd-socket-activate', { skip: !HAS_SOCKET_ACTIVATE && 'systemd-socket-activate is not installed (Debian package systemd)' }, () => {
  it('serves the passed TCP and UDP fds, lists them with their origin, and closes them with the servers', { skip: !hostHasIPv6() && 'no IPv6 on this host' }, async (t) => {
    // -d makes every socket of one invocation a datagram one: the outer opens TCP, the inner adds UDP (docs/systemd.md).
    const { activated, port } = await socketActivate(t, ['tcp4', 'tcp6', 'udp4'], 2, (p) => [
      ...['-l', `127.0.0.1:${p}`, '-l', `[::1]:${p}`],
      ...['systemd-socket-activate', '-d', '-l', `127.0.0.1:${p}`, '--fdname=echo:echo:echo-udp'],
      ...[NODE, FIXTURE, '--tcp', 'echo', '--udp', 'echo-udp'],
    ]);
    assert.equal((await tcpExchange(t, '127.0.0.1', port, 'the connection that started it\n', { ms: 20_000 })).toString(), 'the connection that started it\n');
    const listening = await activated.report<{ tcp: unknown[]; udp: unknown[] }>('listening');
    assert.deepEqual(listening.tcp, [
      { address: '127.0.0.1', port, family: 'IPv4', transport: 'tcp', origin: 'systemd', fd: 3, fdName: 'echo' },
      { address: '::1', port, family: 'IPv6', transport: 'tcp', origin: 'systemd', fd: 4, fdName: 'echo' },
    ]);
    assert.deepEqual(listening.udp, [{ address: '127.0.0.1', port, family: 'IPv4', transport: 'udp', origin: 'systemd', fd: 5, fdName: 'echo-udp' }]);
    assert.equal((await tcpExchange(t, '::1', port, 'over IPv6\n')).toString(), 'over IPv6\n');
    const udp = await udpClient(t, 4);
    udp.send('127.0.0.1', port, 'a datagram');
    assert.equal((await udp.reply(port)).toString(), 'a datagram');

    activated.child.kill('SIGTERM');
    const closed = await activated.report<{ tcp: { accepted: number; closed: number; sessions: number; listeners: number }; udp: { datagramsIn: number; datagramsOut: number }; stillOpen: number[]; handles: string[] }>('closed');
    assert.deepEqual(closed.stillOpen, [], 'closing the servers closed every adopted fd');
    assert.deepEqual(closed.handles, [], 'no socket handle is left');
    assert.equal(closed.tcp.accepted, 2);
    assert.equal(closed.tcp.closed, closed.tcp.accepted, 'every accepted connection closed');
    assert.equal(closed.tcp.listeners, 0);
    assert.equal(closed.udp.datagramsIn, 1);
    assert.equal(closed.udp.datagramsOut, 1);
    await within(activated.exited, 'the fixture to exit');
  });

  it('takes every stream fd with systemd: true and leaves the datagram fd', async (t) => {
    const { activated, port } = await socketActivate(t, ['tcp4', 'udp4'], 1, (p) => [
      ...['-l', `127.0.0.1:${p}`],
      ...['systemd-socket-activate', '-d', '-l', `127.0.0.1:${p}`],
      ...[NODE, FIXTURE, '--tcp', '*'],
    ]);
    assert.equal((await tcpExchange(t, '127.0.0.1', port, 'all\n', { ms: 20_000 })).toString(), 'all\n');
    const listening = await activated.report<{ tcp: { fd: number; fdName: string }[] }>('listening');
    assert.deepEqual(listening.tcp.map(({ fd, fdName }) => `${fd} ${fdName}`), ['3 unknown']);
    activated.child.kill('SIGTERM');
    await activated.report('closed');
  });

  it('refuses a datagram fd named for a TCP server with SWB_ERR_ACTIVATION_FD_TYPE, naming it, before touching any socket', async (t) => {
    // fd 3 "web" is a TCP listener, fd 4 "dns" a datagram socket; the server asks for both.
    const { activated, port } = await socketActivate(t, ['tcp4', 'udp4'], 1, (p) => [
      ...['-l', `127.0.0.1:${p}`],
      ...['systemd-socket-activate', '-d', '-l', `127.0.0.1:${p}`, '--fdname=web:dns'],
      ...[NODE, FIXTURE, '--tcp', 'web,dns'],
    ]);
    const client = await connectClient(t, port);
    const report = await activated.report<{ code: string; message: string; fd: number; fdName: string; handles: string[] }>('error');
    assert.equal(report.code, 'SWB_ERR_ACTIVATION_FD_TYPE');
    assert.equal(report.message, `socket activation: fd 4 "dns" (udp 127.0.0.1:${port}) is a datagram socket, not a stream (TCP) listener`);
    assert.equal(report.fd, 4);
    assert.equal(report.fdName, 'dns');
    assert.deepEqual(report.handles, [], 'no socket handle was created, not even for fd 3, which was fine');
    assert.deepEqual(await activated.exit(), { code: 2, signal: null });
    await client.close();
  });
});
