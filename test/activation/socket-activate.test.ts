/**
 * Socket activation against the real peer: Debian's `systemd-socket-activate` (no systemd as
 * PID 1 needed) runs test/activation/fixtures/adopt-echo.ts, which adopts the passed fds with
 * src/activation and echoes.
 *
 * `-d` makes every socket of one `systemd-socket-activate` a datagram socket, so TCP and UDP
 * together take two of them chained: the outer one opens the TCP sockets and, on the first
 * connection, execs the inner one, which passes them on ("file descriptors from sd_listen_fds()
 * will be passed through") after adding its UDP socket: fds 3 and 4 TCP, fd 5 UDP.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { connectClient, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { tcpExchange, udpClient } from '../cli/clients.ts';
import { FIXTURES, HAS_SOCKET_ACTIVATE, socketActivate } from './activate.ts';

const FIXTURE = `${FIXTURES}adopt-echo.ts`;
const NODE = process.execPath;
const O_NONBLOCK = 0o4000;

interface ListeningReport {
  pid: number;
  fds: { fd: number; name: string; kind: string; family: string; address: string; port: number; state: string; closeOnExec: boolean }[];
  links: Record<string, string>;
  adopted: { fd: number; name: string; transport: string; family: string; address: string; port: number }[];
  envAfter: string[];
  child: { fds: string[]; env: string[] };
}

interface ErrorReport {
  code: string;
  message: string;
  fd: number;
  fdName: string;
  handles: string[];
  flags: Record<string, string>;
}

describe('socket activation under systemd-socket-activate', { skip: !HAS_SOCKET_ACTIVATE && 'systemd-socket-activate is not installed (Debian package systemd)' }, () => {
  it('adopts TCP on both loopbacks and the datagram fd by name, and serves in full the connection that started it', { skip: !hostHasIPv6() && 'no IPv6 on this host' }, async (t) => {
    const { activated, port } = await socketActivate(t, ['tcp4', 'tcp6', 'udp4'], 2, (p) => [
      ...['-l', `127.0.0.1:${p}`, '-l', `[::1]:${p}`],
      ...['systemd-socket-activate', '-d', '-l', `127.0.0.1:${p}`, '--fdname=echo:echo:echo-udp'],
      ...[NODE, FIXTURE, '--tcp', 'echo', '--udp', 'echo-udp'],
    ]);
    assert.deepEqual(activated.stdout.lines, [], 'nothing runs before the first connection');

    const first = await tcpExchange(t, '127.0.0.1', port, 'the first line, sent before the server ran\n');
    assert.equal(first.toString(), 'the first line, sent before the server ran\n');
    assert.match(activated.stderr.text, /Communication attempt on fd 3/);

    const report = await activated.report<ListeningReport>('listening');
    assert.deepEqual(
      report.fds.map(({ fd, name, kind, family, address, port: bound, state }) => ({ fd, name, kind, family, address, port: bound, state })),
      [
        { fd: 3, name: 'echo', kind: 'stream', family: 'IPv4', address: '127.0.0.1', port, state: 'listening' },
        { fd: 4, name: 'echo', kind: 'stream', family: 'IPv6', address: '::1', port, state: 'listening' },
        { fd: 5, name: 'echo-udp', kind: 'datagram', family: 'IPv4', address: '127.0.0.1', port, state: 'unconnected' },
      ],
    );
    assert.deepEqual(
      report.adopted.map(({ fd, transport, address }) => `${fd} ${transport} ${address}`),
      ['3 tcp 127.0.0.1', '4 tcp ::1', '5 udp 127.0.0.1'],
    );
    assert.deepEqual(report.envAfter, [], 'LISTEN_* are removed from process.env once read');

    assert.equal((await tcpExchange(t, '::1', port, 'over IPv6\n')).toString(), 'over IPv6\n');
    const udp = await udpClient(t, 4);
    udp.send('127.0.0.1', port, 'a datagram');
    assert.equal((await udp.reply(port)).toString(), 'a datagram');

    activated.child.kill('SIGTERM');
    const closed = await activated.report<{ stillOpen: number[] }>('closed');
    assert.deepEqual(closed.stillOpen, [], 'closing the servers closed every adopted fd');
    assert.deepEqual(await activated.exit(), { code: 0, signal: null });
  });

  it('gives a child of the adopter no LISTEN_* variable and none of the passed fds', async (t) => {
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, '--fdname=echo', NODE, FIXTURE, '--tcp', 'echo']);
    const client = await connectClient(t, port);
    const report = await activated.report<ListeningReport>('listening');
    await client.close();
    assert.equal(report.fds[0]?.closeOnExec, true, 'Node marked the inherited fd close-on-exec at start-up');
    assert.deepEqual(report.child.env, [], 'the child saw no LISTEN_* variable');
    const passedSocket = report.links['3'];
    assert.match(passedSocket ?? '', /^socket:\[\d+\]$/);
    assert.ok(report.child.fds.length >= 3, `the child listed its fds: ${report.child.fds.join('; ')}`);
    assert.ok(!report.child.fds.some((line) => line.endsWith(` -> ${passedSocket}`)), `the child holds the passed socket: ${report.child.fds.join('; ')}`);
    activated.child.kill('SIGTERM');
    await activated.exit();
  });

  it('ignores the fds when LISTEN_PID names another process, and still removes the variables', async (t) => {
    // sh runs node as its child (the `exit` after it keeps sh from exec'ing node), so LISTEN_PID is sh's.
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, 'sh', '-c', '"$0" "$@"; exit $?', NODE, FIXTURE, '--tcp', '*']);
    const client = await connectClient(t, port);
    const report = await activated.report<{ reason: string; envAfter: string[] }>('none');
    assert.match(report.reason, /^LISTEN_PID=\d+ is another process \(this is \d+\)$/);
    assert.deepEqual(report.envAfter, []);
    await client.close();
    await activated.exit();
  });

  it('accepts a missing LISTEN_PID only when told to (allowMissingPid)', async (t) => {
    const unset = ['sh', '-c', 'unset LISTEN_PID; exec "$0" "$@"', NODE, FIXTURE, '--tcp', '*'];
    const refused = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, ...unset]);
    const waiting = await connectClient(t, refused.port);
    assert.match((await refused.activated.report<{ reason: string }>('none')).reason, /^LISTEN_PID is not set/);
    await waiting.close();
    await refused.activated.exit();

    const allowed = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, ...unset, '--allow-missing-pid']);
    assert.equal((await tcpExchange(t, '127.0.0.1', allowed.port, 'no pid\n')).toString(), 'no pid\n');
    await allowed.activated.report('listening');
    allowed.activated.child.kill('SIGTERM');
    await allowed.activated.exit();
  });

  it('refuses a datagram fd named for TCP with SWB_ERR_ACTIVATION_FD_TYPE before touching any socket', async (t) => {
    const { activated, port } = await socketActivate(t, ['udp4'], 1, (p) => ['-d', '-l', `127.0.0.1:${p}`, '--fdname=echo', NODE, FIXTURE, '--tcp', 'echo']);
    const udp = await udpClient(t, 4);
    udp.send('127.0.0.1', port, 'wake up');
    const report = await activated.report<ErrorReport>('error');
    assert.equal(report.code, 'SWB_ERR_ACTIVATION_FD_TYPE');
    assert.equal(report.message, `socket activation: fd 3 "echo" (udp 127.0.0.1:${port}) is a datagram socket, not a stream (TCP) listener`);
    assert.equal(report.fd, 3);
    assert.equal(report.fdName, 'echo');
    assert.deepEqual(report.handles, [], 'no socket handle was created');
    assert.equal(Number.parseInt(report.flags['3']!, 8) & O_NONBLOCK, 0, 'fd 3 was never wrapped (libuv sets O_NONBLOCK when it does)');
    assert.deepEqual(await activated.exit(), { code: 2, signal: null });
  });

  it('refuses a stream fd named for UDP the same way', async (t) => {
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, '--fdname=echo', NODE, FIXTURE, '--udp', 'echo']);
    const client = await connectClient(t, port);
    const report = await activated.report<ErrorReport>('error');
    assert.equal(report.code, 'SWB_ERR_ACTIVATION_FD_TYPE');
    assert.equal(report.message, `socket activation: fd 3 "echo" (tcp 127.0.0.1:${port}) is a stream socket, not a datagram (UDP) socket`);
    assert.deepEqual(report.handles, []);
    await client.close();
    await activated.exit();
  });

  it('turns the EINVAL of listen({ fd }) into the coded error where /proc did not tell the kind', async (t) => {
    const { activated, port } = await socketActivate(t, ['udp4'], 1, (p) => ['-d', '-l', `127.0.0.1:${p}`, '--fdname=echo', NODE, FIXTURE, '--tcp', 'echo', '--pretend-unknown']);
    const udp = await udpClient(t, 4);
    udp.send('127.0.0.1', port, 'wake up');
    const report = await activated.report<ErrorReport>('error');
    assert.equal(report.code, 'SWB_ERR_ACTIVATION_FD_TYPE');
    assert.equal(report.message, 'socket activation: fd 3 "echo" (unknown) is not a stream (TCP) listener (EINVAL: a datagram or connected socket?)');
    assert.equal(report.fdName, 'echo');
    assert.equal(Number.parseInt(report.flags['3']!, 8) & O_NONBLOCK, 0, 'Node checked the handle type before wrapping fd 3');
    await within(activated.exited, 'the fixture to exit');
  });
});
