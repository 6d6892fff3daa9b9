/**
 * The CLI under a service manager: `--listen systemd:NAME`, `--listen-fds` and `--inetd` of
 * serve, exec and run under the real `systemd-socket-activate`, and READY/STATUS/STOPPING/
 * WATCHDOG through the real `systemd-notify` to a Python AF_UNIX/SOCK_DGRAM receiver.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectTls, type TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { FIXTURES, HAS_SOCKET_ACTIVATE, HAS_SYSTEMD_NOTIFY, socketActivate, startReceiver, tempDir, type ActivatedProcess } from '../activation/activate.ts';
import { createTestCertificates } from '../helpers/certs.ts';
import { connectClient, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { CliProcess, MAIN, NODE_FLAGS, hasProgram, parseListening, startCli } from './cli-process.ts';
import { tcpExchange, udpClient } from './clients.ts';

const SWITCHBOARD = [process.execPath, ...NODE_FLAGS, MAIN];
const BLOCKING_ECHO = `${FIXTURES}blocking-echo.mjs`;
const HAS_PYTHON = hasProgram('python3');

/** The JSON log line of `event` on stderr (warnings and errors go there). */
async function errorLine(activated: ActivatedProcess, event: string): Promise<{ code?: string; msg: string }> {
  const line = await activated.stderr.waitFor(new RegExp(`"event":"${event}"`), `a ${event} line`, 15_000);
  return JSON.parse(line.slice(line.indexOf('{'))) as { code?: string; msg: string };
}

describe('switchboard under systemd-socket-activate', { skip: !HAS_SOCKET_ACTIVATE && 'systemd-socket-activate is not installed (Debian package systemd)' }, () => {
  it('serve --listen-fds: TCP echo on both loopbacks and UDP echo, by fd name, the first connection served in full', { skip: !hostHasIPv6() && 'no IPv6 on this host' }, async (t) => {
    // -d makes every socket of one invocation a datagram one: the outer opens TCP and, on the
    // first connection, execs the inner, which passes fds 3 and 4 on and adds its UDP fd 5.
    const { activated, port } = await socketActivate(t, ['tcp4', 'tcp6', 'udp4'], 2, (p) => [
      ...['-l', `127.0.0.1:${p}`, '-l', `[::1]:${p}`],
      ...['systemd-socket-activate', '-d', '-l', `127.0.0.1:${p}`, '--fdname=echo:echo:echo-udp'],
      ...SWITCHBOARD, 'serve', '--listen-fds',
    ]);
    assert.deepEqual(activated.stdout.lines, [], 'nothing runs before the first connection');
    const first = await tcpExchange(t, '127.0.0.1', port, 'the line that started it all\n', { ms: 20_000 });
    assert.equal(first.toString(), 'the line that started it all\n');

    const listening = (await activated.stdout.waitForCount(/^listening /, 3, 'listening lines')).map(parseListening);
    assert.deepEqual(listening, [
      { transport: 'tcp', host: '127.0.0.1', port, name: 'echo', passed: 'fd 3 "echo"' },
      { transport: 'tcp', host: '::1', port, name: 'echo', passed: 'fd 4 "echo"' },
      { transport: 'udp', host: '127.0.0.1', port, name: 'echo', passed: 'fd 5 "echo-udp"' },
    ]);
    assert.equal((await tcpExchange(t, '::1', port, 'over IPv6\n')).toString(), 'over IPv6\n');
    const udp = await udpClient(t, 4);
    udp.send('127.0.0.1', port, 'a datagram');
    assert.equal((await udp.reply(port)).toString(), 'a datagram');

    activated.child.kill('SIGTERM');
    assert.deepEqual(await activated.exit(), { code: 0, signal: null });
  });

  it('serve --listen-fds serves a service passed only a datagram fd', async (t) => {
    const { activated, port } = await socketActivate(t, ['udp4'], 1, (p) => ['-d', '-l', `127.0.0.1:${p}`, '--fdname=daytime-udp', ...SWITCHBOARD, 'serve', '--listen-fds']);
    const udp = await udpClient(t, 4);
    udp.send('127.0.0.1', port, 'what time is it?'); // starts the command; the datagram waits in the socket's buffer
    const listening = (await activated.stdout.waitForCount(/^listening /, 1, 'listening lines', 15_000)).map(parseListening);
    assert.match((await udp.reply(port)).toString(), /\d{4}.*\r\n$/, 'daytime answered the datagram that started it');
    assert.deepEqual(listening, [{ transport: 'udp', host: '127.0.0.1', port, name: 'daytime', passed: 'fd 3 "daytime-udp"' }]);
    activated.child.kill('SIGTERM');
    assert.deepEqual(await activated.exit(), { code: 0, signal: null });
  });

  it('applies the limits and TLS flags to passed sockets as to bound ones', async (t) => {
    const certs = await createTestCertificates(t);
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => [
      '-l', `127.0.0.1:${p}`, '--fdname=echo',
      ...SWITCHBOARD, 'serve', '--listen-fds', '--max-clients', '1', '--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath,
    ]);
    const first = await within(new Promise<TLSSocket>((resolve, reject) => {
      const socket = connectTls({ host: '127.0.0.1', port, ca: certs.ca.cert, servername: 'localhost' }, () => resolve(socket));
      socket.once('error', reject);
    }), 'the TLS handshake', 15_000);
    t.after(() => void first.destroy());
    first.write('over TLS\n');
    const echoed = await within(new Promise<string>((resolve) => first.once('data', (data: Buffer) => resolve(data.toString()))), 'the echo');
    assert.equal(echoed, 'over TLS\n');
    assert.equal(first.getPeerCertificate().subject.CN, 'localhost');
    // --max-clients 1: a second client is refused while the first is open.
    await tcpExchange(t, '127.0.0.1', port, undefined, { allowReset: true });
    await activated.stderr.waitFor(/too many clients \(--max-clients 1\)/, 'the refusal line', 15_000);
    first.end();
    activated.child.kill('SIGTERM');
    assert.deepEqual(await activated.exit(), { code: 0, signal: null });
  });

  it('serve SERVICE --listen-fds serves unnamed fds with the one service named; a name no service has fails coded', async (t) => {
    const named = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, ...SWITCHBOARD, 'serve', 'daytime', '--listen-fds']);
    const reply = await tcpExchange(t, '127.0.0.1', named.port, undefined, { ms: 20_000 });
    assert.match(reply.toString(), /\d{4}.*\r\n$/, 'daytime answered');
    named.activated.child.kill('SIGTERM');
    assert.deepEqual(await named.activated.exit(), { code: 0, signal: null });

    const unknown = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, '--fdname=web', ...SWITCHBOARD, 'serve', '--json', '--listen-fds']);
    const client = await connectClient(t, unknown.port);
    const failure = await errorLine(unknown.activated, 'start-failed');
    assert.equal(failure.code, 'SWB_ERR_ACTIVATION_NAME_NOT_FOUND');
    assert.match(failure.msg, /^socket activation: no service serves fd 3 "web": name the fd after one/);
    assert.deepEqual(await unknown.activated.exit(), { code: 1, signal: null });
    await client.close();
  });

  it('exec --listen systemd:NAME refuses a datagram fd with SWB_ERR_ACTIVATION_FD_TYPE, naming it, before binding anything', async (t) => {
    const { activated, port } = await socketActivate(t, ['tcp4', 'udp4'], 1, (p) => [
      ...['-l', `127.0.0.1:${p}`],
      ...['systemd-socket-activate', '-d', '-l', `127.0.0.1:${p}`, '--fdname=web:dns'],
      ...SWITCHBOARD, 'exec', '--json', '--listen', 'systemd:web', '--listen', 'systemd:dns', '--listen', '127.0.0.1:0', '--', 'cat',
    ]);
    const client = await connectClient(t, port);
    const failure = await errorLine(activated, 'start-failed');
    assert.equal(failure.code, 'SWB_ERR_ACTIVATION_FD_TYPE');
    assert.equal(failure.msg, `socket activation: fd 4 "dns" (udp 127.0.0.1:${port}) is a datagram socket, not a stream (TCP) listener`);
    assert.deepEqual(activated.stdout.lines.filter((line) => line.includes('"listening"')), [], 'nothing was bound, not even 127.0.0.1:0');
    assert.deepEqual(await activated.exit(), { code: 1, signal: null });
    await client.close();
  });

  it('exec --listen-fds mixes with --listen; its programs see no LISTEN_* variable and no inherited socket', async (t) => {
    const program = ['sh', '-c', 'env | grep -E "^(LISTEN_|NOTIFY_SOCKET)" ; ls -l /proc/self/fd | sed -n "s/.*-> //p"'];
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, ...SWITCHBOARD, 'exec', '--listen-fds', '--listen', '127.0.0.1:0', '--', ...program], { NOTIFY_SOCKET: '/nonexistent/notify.sock' });
    const passedChild = (await tcpExchange(t, '127.0.0.1', port, undefined, { ms: 20_000 })).toString().trim().split('\n');
    const listening = (await activated.stdout.waitForCount(/^listening /, 2, 'listening lines')).map(parseListening);
    assert.equal(listening[0]!.passed, 'fd 3 "unknown"');
    // systemd-socket-activate exec'd the CLI: its pid is the CLI's, and its fd 3 the passed listener.
    const listener = readlinkSync(`/proc/${activated.child.pid}/fd/3`);
    assert.match(listener, /^socket:\[\d+\]$/);
    const bound = listening.find((entry) => entry.passed === undefined)!;
    const boundChild = (await tcpExchange(t, '127.0.0.1', bound.port)).toString().trim().split('\n');
    for (const lines of [passedChild, boundChild]) {
      assert.ok(lines.length >= 3 && lines.every((line) => !/^(LISTEN_|NOTIFY_SOCKET)/.test(line)), `no LISTEN_* or NOTIFY_SOCKET variable: ${lines.join('; ')}`);
      assert.ok(!lines.includes(listener), `the program holds the passed listener ${listener}: ${lines.join('; ')}`);
    }
    activated.child.kill('SIGTERM');
    assert.deepEqual(await activated.exit(), { code: 0, signal: null });
  });

  it('exec without activation flags still keeps LISTEN_* from its programs', async (t) => {
    const program = ['sh', '-c', 'env | grep -c "^LISTEN_" ; true'];
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, ...SWITCHBOARD, 'exec', '--listen', '127.0.0.1:0', '--', ...program]);
    const waking = await connectClient(t, port); // starts the command; waits in the backlog, never served
    const [bound] = (await activated.stdout.waitForCount(/^listening /, 1, 'listening lines', 15_000)).map(parseListening);
    assert.equal((await tcpExchange(t, '127.0.0.1', bound!.port)).toString(), '0\n');
    await waking.close();
    activated.child.kill('SIGTERM');
    assert.deepEqual(await activated.exit(), { code: 0, signal: null });
  });

  it('exec --listen-fds ignores fds meant for another process (LISTEN_PID mismatch)', async (t) => {
    // sh runs node as its child (the `exit` keeps sh from exec'ing it), so LISTEN_PID is sh's.
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, 'sh', '-c', '"$0" "$@"; exit $?', ...SWITCHBOARD, 'exec', '--json', '--listen-fds', '--', 'cat']);
    const client = await connectClient(t, port);
    const failure = await errorLine(activated, 'start-failed');
    assert.equal(failure.code, 'SWB_ERR_ACTIVATION_NO_SOCKETS');
    assert.match(failure.msg, /: LISTEN_PID=\d+ is another process \(this is \d+\)$/);
    await client.close();
    await activated.exit();
  });

  const inetdCases = [
    { title: '-a: exec --listen-fds finds the one connected socket on fd 3', flags: ['-a'], command: ['exec', '--listen-fds'] },
    { title: '--inetd -a: exec --inetd takes the connection on fds 0/1', flags: ['--inetd', '-a'], command: ['exec', '--inetd'] },
  ];
  for (const { title, flags, command } of inetdCases) {
    it(`inetd mode, ${title}, with tcp-environ, and exits when it ends`, async (t) => {
      const program = ['--', 'sh', '-c', 'echo "$PROTO $TCPREMOTEIP $TCPLOCALPORT"; exec cat'];
      const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => [...flags, '-l', `127.0.0.1:${p}`, ...SWITCHBOARD, ...command, ...program]);
      const client = await connectClient(t, port);
      assert.equal(await client.waitForText('\n', 15_000), `TCP 127.0.0.1 ${port}\n`);
      client.send('echo me\n');
      await client.waitForText('echo me\n');
      client.socket.end();
      await within(client.closed, 'the instance to close the connection');
      await activated.stderr.waitFor(/^Child \d+ died with code 0$/, 'the instance to exit 0', 15_000);
      activated.child.kill('SIGTERM');
      await activated.exit();
    });
  }

  for (const { title, flags, command } of [
    { title: '-a with --listen-fds', flags: ['-a'], command: ['run', BLOCKING_ECHO, '--listen-fds'] },
    { title: '--inetd -a with --inetd', flags: ['--inetd', '-a'], command: ['run', BLOCKING_ECHO, '--inetd'] },
  ]) {
    it(`inetd mode for a run module, ${title}`, async (t) => {
      const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => [...flags, '-l', `127.0.0.1:${p}`, ...SWITCHBOARD, ...command]);
      assert.equal((await tcpExchange(t, '127.0.0.1', port, 'one connection\n', { ms: 20_000 })).toString(), 'one connection\n');
      await activated.stderr.waitFor(/^Child \d+ died with code 0$/, 'the instance to exit 0', 15_000);
      activated.child.kill('SIGTERM');
      await activated.exit();
    });
  }
});

describe('switchboard and sd_notify', { skip: (!HAS_PYTHON && 'python3 is not installed') || (!HAS_SYSTEMD_NOTIFY && 'systemd-notify is not installed (Debian package systemd)') }, () => {
  it('sends READY=1 once every address is bound, STATUS= as sessions change, STOPPING=1 on SIGTERM', async (t) => {
    const receiver = await startReceiver(t);
    const cli = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0', '--listen', '[::1]:0'], { NOTIFY_SOCKET: receiver.path });
    const listening = await cli.listening(hostHasIPv6() ? 4 : 2);
    const [ready] = await receiver.waitFor(/READY=1/);
    assert.equal(ready!.message, `READY=1\nSTATUS=serving ${listening.length} address(es), 0 session(s) open`);
    const echo = CliProcess.find(listening, 'echo', 'tcp', '127.0.0.1');
    const client = await connectClient(t, echo.port);
    const [status] = await receiver.waitFor(/STATUS=serving \d+ address\(es\), 1 session\(s\) open/);
    assert.doesNotMatch(status!.message, /READY/);
    await client.close();
    // The READY message ended with "0 session(s) open" too: wait for the second such message.
    await receiver.waitFor(/STATUS=serving \d+ address\(es\), 0 session\(s\) open"/, 2);
    cli.signal('SIGTERM');
    const [stopping] = await receiver.waitFor(/STOPPING=1/);
    assert.match(stopping!.message, /^STOPPING=1\nSTATUS=stopping: 0 session\(s\) have 10000 ms to finish$/);
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
  });

  it('sends RELOADING=1 then READY=1 around a SIGHUP reload of the TLS files', async (t) => {
    const certs = await createTestCertificates(t);
    const receiver = await startReceiver(t);
    const cli = startCli(t, ['serve', 'daytime', '--listen', '127.0.0.1:0', '--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath], { NOTIFY_SOCKET: receiver.path });
    await cli.listening(2);
    await receiver.waitFor(/READY=1/);
    cli.signal('SIGHUP');
    await cli.stdout.waitFor(/SIGHUP: TLS certificates re-read/, 'the reload line');
    const [reloading] = await receiver.waitFor(/RELOADING=1/);
    assert.match(reloading!.message, /^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading$/);
    const readies = await receiver.waitFor(/READY=1/, 2);
    assert.ok(readies[1]!.t >= reloading!.t, 'READY=1 again after the reload');
    assert.deepEqual(await cli.stop(), { code: 0, signal: null });
  });

  it('sends no READY=1 when an address cannot be bound', async (t) => {
    const receiver = await startReceiver(t);
    const holder = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0']);
    const [taken] = await holder.listening(2);
    const cli = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0', '--listen', `127.0.0.1:${taken!.port}`], { NOTIFY_SOCKET: receiver.path });
    assert.equal((await cli.exit()).code, 1);
    // Datagrams on one socket arrive in order, and the CLI waits for its helpers before it
    // exits: anything it sent is in before this probe.
    assert.equal(spawnSync('systemd-notify', ['--no-block', 'STATUS=probe'], { env: { ...process.env, NOTIFY_SOCKET: receiver.path } }).status, 0);
    await receiver.waitFor(/STATUS=probe/);
    assert.deepEqual(receiver.messages().filter((message) => /READY=1/.test(message)), []);
    await holder.stop();
  });

  it('pings WATCHDOG=1 every WATCHDOG_USEC/2 while the loop runs, with a gap while a handler blocks it', async (t) => {
    // Timing is the subject here: pings every 500 ms; the module blocks the loop for 1500 ms (3 of them).
    const watchdogUsec = 1_000_000;
    const receiver = await startReceiver(t);
    const cli = startCli(t, ['run', BLOCKING_ECHO, '--listen', '127.0.0.1:0'], { NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: String(watchdogUsec) });
    const [listening] = await cli.listening(1);
    const running = await receiver.waitFor(/"message": "WATCHDOG=1"/, 3, 10_000);
    for (let index = 1; index < running.length; index++) {
      const gap = (running[index]!.t - running[index - 1]!.t) / 1e6;
      assert.ok(gap < watchdogUsec / 1000, `a gap of ${gap} ms while the loop ran would trip the watchdog`);
    }
    const client = await connectClient(t, listening!.port);
    client.send('block 1500\n');
    await client.waitForText('block 1500\n', 10_000);
    const after = await receiver.waitFor(/"message": "WATCHDOG=1"/, running.length + 3, 10_000);
    const gaps = after.slice(1).map((entry, index) => (entry.t - after[index]!.t) / 1e6);
    assert.ok(Math.max(...gaps) >= watchdogUsec / 1000, `the blocked loop left a gap of at least WATCHDOG_USEC (gaps: ${gaps.join(', ')})`);
    await client.close();
    assert.deepEqual(await cli.stop(), { code: 0, signal: null });
  });

  it('costs nothing without NOTIFY_SOCKET: no helper is spawned (a stand-in on PATH tells)', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'systemd-notify'), `#!/bin/sh\necho "$@" >> ${join(dir, 'ran')}\n`, { mode: 0o755 });
    const env = { PATH: `${dir}:${process.env.PATH ?? ''}`, WATCHDOG_USEC: '100000' };
    const without = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0'], { ...env, NOTIFY_SOCKET: '' });
    await without.listening(2);
    assert.deepEqual(await without.stop(), { code: 0, signal: null });
    assert.equal(existsSync(join(dir, 'ran')), false, 'nothing ran the helper');

    const withSocket = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0'], { ...env, NOTIFY_SOCKET: join(dir, 'notify.sock') });
    await withSocket.listening(2);
    assert.deepEqual(await withSocket.stop(), { code: 0, signal: null });
    assert.match(readFileSync(join(dir, 'ran'), 'utf8'), /^--no-block READY=1 STATUS=serving 2 address\(es\), 0 session\(s\) open$/m, 'the control: with NOTIFY_SOCKET it runs');
  });
});
