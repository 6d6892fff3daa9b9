/**
 * The command's contract: usage errors exit 2 naming the flag, runtime failures exit 1 with the
 * library's message, --help and --version, and the signals (graceful, deadline, forced).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SIGNAL_REPEAT_MS } from '../../src/cli/shutdown.ts';
import { listenLocal, connectClient, within } from '../helpers/net.ts';
import { runCliToExit, startCli } from './cli-process.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('switchboard usage', () => {
  const cases: [string[], RegExp][] = [
    [['serve', '--bogus'], /^switchboard serve: unknown flag --bogus$/m],
    [['--bogus'], /^switchboard serve: unknown flag --bogus$/m],
    [['serve', '--listen', 'nope'], /^switchboard serve: --listen "nope": expected HOST:PORT/m],
    [['serve', '--listen'], /flag --listen needs a value/],
    [['serve', '--listen', '::1:7'], /--listen "::1:7": an IPv6 address goes in brackets: \[::1\]:7/],
    [['serve', '--json=1'], /flag --json takes no value/],
    [['serve', '--drain-timeout', 'soon'], /--drain-timeout "soon": expected a duration/],
    [['serve', '--idle-timeout=1d'], /--idle-timeout "1d"/],
    [['serve', '--max-clients=lots'], /--max-clients "lots": must be a non-negative integer/],
    [['serve', '--max-clients', '-1'], /^switchboard serve: --max-clients "-1": must be a non-negative integer \(0 for no limit\)$/m],
    [['exec', '--listen', ':0', '--max-per-ip', '-1', '--', 'cat'], /^switchboard exec: --max-per-ip "-1": must be a non-negative integer/m],
    [['serve', '--idle-timeout', '-5s'], /^switchboard serve: --idle-timeout "-5s": expected a duration/m],
    [['serve', '--max-per-ip=-3'], /--max-per-ip "-3"/],
    [['serve', 'ekko'], /unknown service "ekko" \(one of echo, discard, daytime, qotd, chargen, time\)/],
    [['serve', '--quotes', '/nonexistent/quotes'], /--quotes "\/nonexistent\/quotes": no such file/],
    [['exec', '--', 'cat'], /^switchboard exec: --listen is required/m],
    [['exec', '--listen', ':0'], /^switchboard exec: no PROGRAM given/m],
    [['exec', '--listen', 'echo=:0', '--', 'cat'], /--listen "echo=:0"/],
    [['run', '--listen', ':0'], /^switchboard run: no MODULE given/m],
    [['run', 'no-such-module.ts', '--listen', ':0'], /MODULE "no-such-module.ts": no such file/],
    [['run', 'package.json', 'extra', '--listen', ':0'], /unexpected argument "extra"/],
    [['frobnicate'], /^switchboard: unknown command "frobnicate"/m],
  ];
  for (const [args, message] of cases) {
    it(`exits 2 naming the problem: ${args.join(' ')}`, async (t) => {
      const result = await runCliToExit(t, args);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /Run 'switchboard( \w+)? --help' for usage\./);
      assert.equal(result.stdout, '');
    });
  }

  for (const command of ['serve', 'exec', 'run']) {
    it(`prints help for ${command} with --help and with help ${command}`, async (t) => {
      for (const args of [[command, '--help'], [command, '-h'], ['help', command]]) {
        const result = await runCliToExit(t, args);
        assert.equal(result.code, 0);
        assert.match(result.stdout, new RegExp(`^Usage: switchboard ${command} `));
        assert.match(result.stdout, /--drain-timeout/);
      }
    });
  }

  it('prints the main help and the version', async (t) => {
    const help = await runCliToExit(t, ['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: switchboard <command>/);
    for (const args of [['--version'], ['serve', '--version']]) {
      const version = await runCliToExit(t, args);
      assert.deepEqual([version.code, version.stdout], [0, VERSION]);
    }
  });
});

describe('switchboard runtime failures', () => {
  it('exits 1 with the library\'s message when the address is in use, leaving nothing bound', async (t) => {
    const taken = await listenLocal(t);
    const port = taken.addresses[0]!.port;
    const result = await runCliToExit(t, ['serve', 'echo', '--listen', `127.0.0.1:${port}`]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `error: listen tcp 127.0.0.1:${port}: address already in use (EADDRINUSE)`);
    assert.equal(result.stdout, '', 'no listening line for a group that failed');
  });

  it('reports it as JSON with --json, and nothing else with --quiet', async (t) => {
    const taken = await listenLocal(t);
    const port = taken.addresses[0]!.port;
    const json = await runCliToExit(t, ['serve', 'echo', '--json', '--listen', `127.0.0.1:${port}`]);
    assert.equal(json.code, 1);
    const record = JSON.parse(json.stderr) as Record<string, unknown>;
    assert.deepEqual([record.level, record.event, record.code, record.msg], ['error', 'start-failed', 'SWB_ERR_ADDRESS_IN_USE', `listen tcp 127.0.0.1:${port}: address already in use (EADDRINUSE)`]);

    const quiet = await runCliToExit(t, ['serve', 'daytime', 'echo=127.0.0.1:0', '--quiet', '--listen', `127.0.0.1:${port}`]);
    assert.equal(quiet.code, 1);
    assert.equal(quiet.stdout, '');
    assert.match(quiet.stderr, /^error: listen tcp 127\.0\.0\.1:\d+: address already in use \(EADDRINUSE\)$/);
  });
});

describe('switchboard signals', () => {
  it('closes gracefully on SIGINT: sessions are half-closed, then exit 0', async (t) => {
    const cli = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0']);
    const [echo] = await cli.listening(1);
    const client = await connectClient(t, echo!.port);
    client.send('ping');
    await client.waitForBytes(4);
    cli.signal('SIGINT');
    await within(client.ended, 'the server\'s FIN');
    assert.equal(client.received.toString(), 'ping');
    // The client closes its side (allowHalfOpen is off): the session ends, the process exits.
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
    assert.match(cli.stdout.text, /^closing on SIGINT: sessions have 10s to finish/m);
    assert.match(cli.stdout.text, /^closed$/m);
  });

  it('cuts sessions off at --drain-timeout and still exits 0', async (t) => {
    const cli = startCli(t, ['serve', 'echo', '--drain-timeout', '200ms', '--listen', '127.0.0.1:0']);
    const [echo] = await cli.listening(1);
    // A half-open client that never closes its side would hold the session forever.
    const client = await connectClient(t, echo!.port, '127.0.0.1', { allowHalfOpen: true });
    client.send('x');
    await client.waitForBytes(1);
    cli.signal('SIGTERM');
    // Exiting at all proves the session was destroyed: it would never end by itself.
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
    assert.match(cli.stdout.text, /sessions have 200ms to finish/);
    assert.match(cli.stdout.text, /^closed$/m);
  });

  it('destroys everything on a second signal and exits 128 + its number', async (t) => {
    const cli = startCli(t, ['serve', 'chargen', '--drain-timeout', '60s', '--listen', '127.0.0.1:0']);
    const [chargen] = await cli.listening(1);
    const client = await connectClient(t, chargen!.port, '127.0.0.1', { allowHalfOpen: true });
    await client.waitForBytes(74);
    client.socket.pause(); // a peer that stops reading: the graceful close cannot finish
    cli.signal('SIGTERM');
    await cli.stdout.waitFor(/^closing on SIGTERM/, 'the closing line');
    await delay(SIGNAL_REPEAT_MS + 50); // a repeat sooner than this would be the same request
    cli.signal('SIGTERM');
    assert.deepEqual(await cli.exit(), { code: 128 + constants.signals.SIGTERM, signal: null });
    assert.match(cli.stderr.text, /^warning: SIGTERM again: closing every session now$/m);
  });

  it('takes a repeat of the same signal right after it as the same request (npm forwards a Ctrl-C the server got too)', async (t) => {
    const cli = startCli(t, ['serve', 'echo', '--drain-timeout', '300ms', '--listen', '127.0.0.1:0']);
    const [echo] = await cli.listening(1);
    const client = await connectClient(t, echo!.port, '127.0.0.1', { allowHalfOpen: true });
    client.send('x');
    await client.waitForBytes(1);
    cli.signal('SIGINT');
    await cli.stdout.waitFor(/^closing on SIGINT/, 'the closing line');
    cli.signal('SIGINT');
    // Graceful to the end: the half-open session is cut at the drain deadline, exit 0.
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
    assert.doesNotMatch(cli.stderr.text, /again/);
    assert.match(cli.stdout.text, /^closed$/m);
  });
});
