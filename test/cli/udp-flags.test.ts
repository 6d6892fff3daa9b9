/**
 * `serve`'s UDP limit flags: `--udp-rate N/s` (per source) and `--udp-reply-rate BYTES/s` (all
 * sources together), parsed with the other flags' errors, and applied to every UDP server.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { formatByteRate, parseByteRate, parseDatagramRate } from '../../src/cli/args.ts';
import { SERVE_UDP_DEFAULTS } from '../../src/cli/defaults.ts';
import { readUdpLimits, udpServerLimits } from '../../src/cli/udp-wiring.ts';
import { until } from '../udp/helpers/udp.ts';
import { CliProcess, runCliToExit, startCli } from './cli-process.ts';
import { udpClient } from './clients.ts';

describe('parseDatagramRate', () => {
  it('reads datagrams per second, with or without /s; 0 is no limit', () => {
    assert.deepEqual(['50/s', '50', ' 7/s ', '0'].map((text) => parseDatagramRate(text, '--udp-rate', 1)), [50, 50, 7, 0]);
    assert.equal(parseDatagramRate(undefined, '--udp-rate', 9), 9);
  });

  it('refuses anything else, naming the flag', () => {
    for (const text of ['fast', '-1', '2.5/s', '50/m', '50/sec', '']) {
      assert.throws(() => parseDatagramRate(text, '--udp-rate', 1), (error: Error) => error.name === 'UsageError' && error.message === `--udp-rate ${JSON.stringify(text)}: expected datagrams per second such as 50/s (0 for no limit)`);
    }
  });
});

describe('parseByteRate', () => {
  it('reads bytes per second: bare, B, kB/MB/GB (1000) and KiB/MiB/GiB (1024), with or without /s', () => {
    const cases: [string, number][] = [['65536', 65536], ['0', 0], ['100B/s', 100], ['64KiB/s', 65536], ['1MB/s', 1_000_000], ['1.5MiB', 1_572_864], ['2 kB/s', 2000], ['1GiB/s', 1024 ** 3]];
    for (const [text, bytes] of cases) assert.equal(parseByteRate(text, '--udp-reply-rate', 1), bytes, text);
    assert.equal(parseByteRate(undefined, '--udp-reply-rate', 5), 5);
  });

  it('refuses bits, other units and negative numbers, naming the flag', () => {
    for (const text of ['10Mb/s', '1kbit', '-1', 'lots', '1e6', '5K', '64KiB/m', '']) {
      assert.throws(() => parseByteRate(text, '--udp-reply-rate', 1), (error: Error) => error.name === 'UsageError' && error.message === `--udp-reply-rate ${JSON.stringify(text)}: expected bytes per second such as 65536, 64KiB/s or 1MB/s (0 for no limit)`);
    }
  });

  it('formats rates back for the help', () => {
    assert.deepEqual([65536, 1024 ** 2, 100, 0, 1500].map(formatByteRate), ['64KiB/s', '1MiB/s', '100B/s', '0', '1500B/s']);
  });
});

describe('serve UDP limits', () => {
  it('defaults to 50 datagrams/s per source and 64 KiB/s of replies per service, at most 3× a request on the wire', () => {
    assert.deepEqual(readUdpLimits({}), SERVE_UDP_DEFAULTS);
    assert.deepEqual(udpServerLimits(readUdpLimits({})), {
      maxDatagramSize: 8192,
      maxAmplification: 3,
      rateLimit: { datagrams: 50, bytes: 64 * 1024 },
      replyRateLimit: 64 * 1024,
    });
  });

  it('turns each limit off with 0', () => {
    const options = udpServerLimits(readUdpLimits({ 'udp-rate': '0', 'udp-reply-rate': '0' }));
    assert.equal(options.rateLimit, false);
    assert.equal(options.replyRateLimit, 0);
  });
});

/** Starts `serve echo` on 127.0.0.1 with `flags`; resolves with the process and echo's UDP port. */
async function serveEcho(t: TestContext, flags: readonly string[]): Promise<{ cli: CliProcess; port: number }> {
  const cli = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0', ...flags]);
  const listening = await cli.listening(2);
  return { cli, port: CliProcess.find(listening, 'echo', 'udp').port };
}

/** The count a `udp-drop` line gives for `reason` (0 when no line names it). */
function dropped(stderr: string, reason: string): number {
  return [...stderr.matchAll(new RegExp(`^warning: echo udp: dropped \\d+ datagram\\(s\\) in [\\d.]+s \\(.*?(\\d+) ${reason}`, 'gm'))].reduce((sum, match) => sum + Number(match[1]), 0);
}

describe('switchboard serve --udp-rate, --udp-reply-rate', () => {
  it('--udp-rate 2/s answers a source two datagrams of a burst and drops the rest as rate-limit', async (t) => {
    const { cli, port } = await serveEcho(t, ['--udp-rate', '2/s']);
    const client = await udpClient(t);
    for (let i = 0; i < 6; i++) client.send('127.0.0.1', port, `d${i}`);
    await client.reply(port);
    assert.equal((await cli.stop()).code, 0);
    const refused = dropped(cli.stderr.text, 'rate-limit');
    // A bucket of 2 refills by 0.2 every 100 ms: a burst sent at once gets 2 through, a slow one 3.
    assert.ok(refused >= 3 && refused <= 4, `dropped ${refused} of 6:\n${cli.stderr.text}`);
    await until(() => client.replies.length === 6 - refused, 'the answered datagrams');
    assert.deepEqual(client.replies.slice(0, 2).map((reply) => reply.data.toString()), ['d0', 'd1']);
  });

  it('--udp-reply-rate 200B/s answers 100-byte datagrams (128 bytes on the wire) until the budget is spent', async (t) => {
    const { cli, port } = await serveEcho(t, ['--udp-reply-rate', '200B/s']);
    const client = await udpClient(t);
    for (let i = 0; i < 6; i++) client.send('127.0.0.1', port, Buffer.alloc(100, 0x30 + i));
    await client.reply(port);
    assert.equal((await cli.stop()).code, 0);
    const refused = dropped(cli.stderr.text, 'reply-rate-limit');
    // 200 bytes pay for one reply and overdraw for a second; 20 bytes come back every 100 ms.
    assert.ok(refused >= 3 && refused <= 4, `refused ${refused} of 6:\n${cli.stderr.text}`);
    assert.equal(dropped(cli.stderr.text, 'rate-limit'), 0, 'no source went over its own rate');
    await until(() => client.replies.length === 6 - refused, 'the answered datagrams');
  });

  it('--udp-rate 0 lifts the per-source limit: a burst of 80 datagrams is all answered', async (t) => {
    const { cli, port } = await serveEcho(t, ['--udp-rate', '0']);
    const client = await udpClient(t);
    for (let i = 0; i < 80; i++) client.send('127.0.0.1', port, `${i}`);
    await until(() => client.replies.length === 80, '80 replies');
    assert.equal((await cli.stop()).code, 0);
    assert.doesNotMatch(cli.stderr.text, /dropped/);
  });

  it('refuses bad values with a usage error naming the flag (exit 2)', async (t) => {
    const rate = await runCliToExit(t, ['serve', '--udp-rate', '50/min']);
    assert.equal(rate.code, 2);
    assert.equal(rate.stderr, `switchboard serve: --udp-rate "50/min": expected datagrams per second such as 50/s (0 for no limit)\nRun 'switchboard serve --help' for usage.`);
    const reply = await runCliToExit(t, ['serve', '--udp-reply-rate', '10Mb/s']);
    assert.equal(reply.code, 2);
    assert.match(reply.stderr, /^switchboard serve: --udp-reply-rate "10Mb\/s": expected bytes per second such as 65536, 64KiB\/s or 1MB\/s \(0 for no limit\)$/m);
    const exec = await runCliToExit(t, ['exec', '--listen', '127.0.0.1:0', '--udp-rate', '5', '--', 'cat']);
    assert.equal(exec.code, 2, 'exec serves no UDP');
    assert.match(exec.stderr, /^switchboard exec: unknown flag --udp-rate$/m);
  });

  it('lists both flags and their defaults in serve --help', async (t) => {
    const { code, stdout } = await runCliToExit(t, ['serve', '--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^ {6}--udp-rate N\/s +datagrams per second from one source, an IPv6 \/64 \(default 50\/s\)$/m);
    assert.match(stdout, /^ {6}--udp-reply-rate R +reply bytes per second, all sources together, headers included$/m);
    assert.match(stdout, /\(default 64KiB\/s; units B, kB, MB, KiB, MiB\)/);
  });
});
