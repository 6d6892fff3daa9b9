/**
 * `switchboard exec` as a child process: the UCSPI environment, piping both ways, exit-status
 * logging, a program that cannot start, the client caps, and SIGTERM/SIGKILL on shutdown.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { ucspiEnvironment } from '../../src/cli/exec/ucspi-env.ts';
import { connectClient, within } from '../helpers/net.ts';
import { runCliToExit, startCli } from './cli-process.ts';
import { tcpExchange } from './clients.ts';

const NODE = process.execPath;
/** Prints the UCSPI variables on one line, then exits 7. */
const PRINT_ENV = `console.log(['PROTO','TCPLOCALIP','TCPLOCALPORT','TCPREMOTEIP','TCPREMOTEPORT','TCPREMOTEHOST'].map((k) => process.env[k] ?? '-').join(' ')); process.exitCode = 7;`;
/** cat: stdin to stdout, exit 0 at end of input. */
const CAT = 'process.stdin.pipe(process.stdout)';

describe('switchboard exec', () => {
  it('gives the program the UCSPI environment and logs its exit status', async (t) => {
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--', NODE, '-e', PRINT_ENV], { TCPREMOTEHOST: 'stale.example' });
    const [listening] = await cli.listening(1);
    assert.equal(listening!.name, 'node', 'the listening line names the program');
    const client = await connectClient(t, listening!.port);
    const clientPort = client.socket.localPort;
    await within(client.closed, 'the program to finish');
    const [proto, localIp, localPort, remoteIp, remotePort, remoteHost] = client.received.toString().trim().split(' ');
    assert.deepEqual(
      { proto, localIp, localPort, remoteIp, remotePort, remoteHost },
      { proto: 'TCP', localIp: '127.0.0.1', localPort: String(listening!.port), remoteIp: '127.0.0.1', remotePort: String(clientPort), remoteHost: '-' },
    );
    const exit = await cli.stderr.waitFor(/^warning: exit pid \d+ status 7 for 127\.0\.0\.1:\d+$/, 'the exit-status line');
    const start = await cli.stdout.waitFor(/^start pid \d+ /, 'the start line');
    assert.equal(/pid (\d+)/.exec(exit)![1], /pid (\d+)/.exec(start)![1]);
    assert.equal((await cli.stop()).code, 0);
  });

  it('sets PROTO=TCP6 and IPv6 addresses on [::1]', async (t) => {
    if (!hostHasIPv6()) return t.skip('SKIPPED LOUDLY: this host has no IPv6');
    const cli = startCli(t, ['exec', '--listen', '[::1]:0', '--', NODE, '-e', PRINT_ENV]);
    const [listening] = await cli.listening(1);
    const reply = await tcpExchange(t, '::1', listening!.port, undefined, { end: false });
    const [proto, localIp, localPort, remoteIp] = reply.toString().trim().split(' ');
    assert.deepEqual([proto, localIp, localPort, remoteIp], ['TCP6', '::1', String(listening!.port), '::1']);
    assert.equal((await cli.stop()).code, 0);
  });

  it('pipes the connection to the program and back, every byte, with a clean exit logged', async (t) => {
    const cli = startCli(t, ['exec', '--json', '--listen', '127.0.0.1:0', '--', NODE, '-e', CAT]);
    const [listening] = await cli.stdout.waitForCount(/"event":"listening"/, 1, 'listening');
    const { port } = JSON.parse(listening!) as { port: number };
    // 4 MiB: far past every pipe and socket buffer, so both directions must apply backpressure.
    const payload = Buffer.alloc(4 * 1024 * 1024, 'switchboard ');
    const reply = await tcpExchange(t, '127.0.0.1', port, payload);
    assert.equal(reply.length, payload.length);
    assert.ok(reply.equals(payload));
    const exit = JSON.parse(await cli.stdout.waitFor(/"event":"exit"/, 'the exit record')) as Record<string, unknown>;
    assert.deepEqual([exit.level, exit.status, exit.signal, exit.remoteAddress], ['info', 0, null, '127.0.0.1']);
    assert.equal((await cli.stop()).code, 0);
  });

  it('logs the program\'s stderr line by line', async (t) => {
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--', NODE, '-e', 'console.error("first"); console.error("second")']);
    const [listening] = await cli.listening(1);
    await tcpExchange(t, '127.0.0.1', listening!.port, undefined, { end: false });
    await cli.stderr.waitFor(/^warning: pid \d+: second$/, 'the second stderr line');
    assert.match(cli.stderr.text, /^warning: pid \d+: first$/m);
    assert.equal((await cli.stop()).code, 0);
  });

  it('fails only that connection when the program cannot be started', async (t) => {
    // There at start (which checks it), gone by the first connection.
    const program = join(mkdtempSync(join(tmpdir(), 'switchboard-exec-')), 'program');
    writeFileSync(program, '#!/bin/sh\ncat\n', { mode: 0o755 });
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--', program, 'arg']);
    const [listening] = await cli.listening(1);
    rmSync(program);
    const logged = new RegExp(`^error: cannot start ${program.replaceAll('/', '\\/')} for 127\\.0\\.0\\.1:\\d+: no such program \\(ENOENT\\)$`);
    for (let i = 0; i < 2; i++) {
      assert.equal((await tcpExchange(t, '127.0.0.1', listening!.port, 'hello')).length, 0);
      await cli.stderr.waitForCount(logged, i + 1, 'the start failure');
    }
    assert.equal(cli.child.exitCode, null, 'still serving');
    assert.equal((await cli.stop()).code, 0);
  });

  it('exits 2 before binding when PROGRAM cannot be run, looking it up as the spawn would', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-exec-'));
    writeFileSync(join(dir, 'plain'), 'not a program\n', { mode: 0o644 });
    const cases: [string, string][] = [
      ['./no-such-program', 'no such file'],
      ['no-such-program-anywhere', 'not found in PATH'],
      [join(dir, 'plain'), 'not executable'],
      [dir, 'not a file'],
    ];
    for (const [program, problem] of cases) {
      const result = await runCliToExit(t, ['exec', '--listen', '127.0.0.1:0', '--', program]);
      assert.equal(result.code, 2, program);
      assert.equal(result.stderr, `switchboard exec: PROGRAM ${JSON.stringify(program)}: ${problem}\nRun 'switchboard exec --help' for usage.`);
      assert.equal(result.stdout, '', 'nothing was bound');
    }
  });

  it('refuses connections over --max-clients and --max-per-ip, logging why', async (t) => {
    for (const flag of ['--max-clients', '--max-per-ip']) {
      const cli = startCli(t, ['exec', flag, '1', '--listen', '127.0.0.1:0', '--', NODE, '-e', CAT]);
      const [listening] = await cli.listening(1);
      const first = await connectClient(t, listening!.port);
      first.send('one\n');
      await first.waitForText('one\n'); // the first program runs
      const second = await tcpExchange(t, '127.0.0.1', listening!.port, 'two\n', { allowReset: true });
      assert.equal(second.length, 0, 'the second connection is closed unanswered');
      await cli.stderr.waitFor(new RegExp(`^warning: refused 127\\.0\\.0\\.1:\\d+ \\(node\\): too many clients.*\\(${flag} 1\\)$`), `the ${flag} refusal`);
      first.socket.end();
      await within(first.closed, 'the first session to end');
      assert.equal((await cli.stop()).code, 0);
    }
  });

  it('sends SIGTERM on shutdown and lets the session finish with the program\'s last output', async (t) => {
    const program = 'process.on("SIGTERM", () => { console.log("bye"); process.exit(0); }); console.log("ready"); setInterval(() => {}, 1000);';
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--', NODE, '-e', program]);
    const [listening] = await cli.listening(1);
    const client = await connectClient(t, listening!.port);
    await client.waitForText('ready\n');
    cli.signal('SIGTERM');
    await within(client.closed, 'the session to end after the program');
    assert.equal(client.received.toString(), 'ready\nbye\n', 'output written after SIGTERM still arrives');
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
    assert.match(cli.stdout.text, /^exit pid \d+ status 0 for 127\.0\.0\.1:\d+$/m);
  });

  it('sends SIGKILL at the drain deadline to a program that ignores SIGTERM', async (t) => {
    const program = 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000);';
    const cli = startCli(t, ['exec', '--drain-timeout', '300ms', '--listen', '127.0.0.1:0', '--', NODE, '-e', program]);
    const [listening] = await cli.listening(1);
    const client = await connectClient(t, listening!.port);
    await client.waitForText('ready\n');
    cli.signal('SIGTERM');
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
    assert.match(cli.stderr.text, /^warning: exit pid \d+ killed by SIGKILL for 127\.0\.0\.1:\d+$/m);
    assert.match(cli.stderr.text, /^warning: 1 session\(s\) still open at the drain deadline/m);
  });
});

describe('ucspiEnvironment', () => {
  it('sets the five variables, removes stale ones, and keeps the rest', () => {
    const env = ucspiEnvironment(
      { remoteAddress: '2001:db8::1', remotePort: 5, remoteFamily: 'IPv6', localAddress: '2001:db8::2', localPort: 7, localFamily: 'IPv6' },
      { PATH: '/bin', TCPREMOTEHOST: 'old', TCPLOCALHOST: 'old', TCPREMOTEINFO: 'old' },
    );
    assert.deepEqual(env, { PATH: '/bin', PROTO: 'TCP6', TCPLOCALIP: '2001:db8::2', TCPLOCALPORT: '7', TCPREMOTEIP: '2001:db8::1', TCPREMOTEPORT: '5' });
  });
});
