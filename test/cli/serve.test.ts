/**
 * `switchboard serve` as a child process: every service over TCP with its exact format,
 * on 127.0.0.1 and [::1], the default addresses, --json, --quotes, and a real socat client.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { chargenLine } from '../../src/cli/services/chargen.ts';
import { RFC868_EPOCH_OFFSET } from '../../src/cli/services/time.ts';
import { connectClient, within } from '../helpers/net.ts';
import { CliProcess, hasProgram, startCli, type Listening } from './cli-process.ts';
import { tcpExchange, udpClient } from './clients.ts';

const SERVICES = ['echo', 'discard', 'daytime', 'qotd', 'chargen', 'time'] as const;

function assertTimeBytes(reply: Buffer): void {
  assert.equal(reply.length, 4, 'exactly four bytes');
  const seconds = reply.readUInt32BE(0);
  const unix = seconds - RFC868_EPOCH_OFFSET;
  assert.ok(Math.abs(unix - Date.now() / 1000) <= 2, `${seconds} is ${unix} s since 1970, not within 2 s of now`);
}

function assertDaytime(reply: Buffer): void {
  const text = reply.toString('latin1');
  assert.match(text, /^[^\r\n]+\r\n$/, 'one CRLF-terminated line');
  const parsed = Date.parse(text);
  assert.ok(!Number.isNaN(parsed), `${JSON.stringify(text)} parses as a date`);
  assert.ok(Math.abs(parsed - Date.now()) <= 2000, `${text.trim()} is within 2 s of now`);
}

function assertQuote(reply: Buffer): void {
  const text = reply.toString();
  assert.ok(text.length > 0 && text.length < 512, `${text.length} characters`);
  assert.ok(text.endsWith('\r\n'));
}

function assertChargen(bytes: Buffer, lines: number): void {
  const text = bytes.toString('latin1');
  for (let i = 0; i < lines; i++) {
    const line = text.slice(i * 74, (i + 1) * 74);
    assert.match(line, /^[ -~]{72}\r\n$/, `line ${i} is 72 printable characters and CRLF`);
    assert.equal(line, chargenLine(i), `line ${i} starts one character after line ${i - 1}`);
  }
}

/** Checks all six services over TCP on `host`. */
async function checkServicesOverTcp(t: TestContext, listening: readonly Listening[], host: string): Promise<void> {
  const port = (name: string): number => CliProcess.find(listening, name, 'tcp', host).port;

  const payload = Buffer.from(Array.from({ length: 256 * 1024 }, (_, i) => i % 251));
  assert.deepEqual(await tcpExchange(t, host, port('echo'), payload), payload, 'echo returns every byte, in order');

  assert.equal((await tcpExchange(t, host, port('discard'), 'nothing comes back\r\n')).length, 0, 'discard never writes');

  assertDaytime(await tcpExchange(t, host, port('daytime'), undefined, { end: false }));
  assertQuote(await tcpExchange(t, host, port('qotd'), undefined, { end: false }));
  assertTimeBytes(await tcpExchange(t, host, port('time'), undefined, { end: false }));

  // chargen never stops by itself: read 200 lines, then close.
  const client = await connectClient(t, port('chargen'), host);
  const bytes = await client.waitForBytes(200 * 74);
  assertChargen(bytes, 200);
  await client.close();
}

/** Checks all six services over UDP on `host`: one request, one reply (none for discard). */
async function checkServicesOverUdp(t: TestContext, listening: readonly Listening[], host: string): Promise<void> {
  const port = (name: string): number => CliProcess.find(listening, name, 'udp', host).port;
  const client = await udpClient(t, host.includes(':') ? 6 : 4);
  const ask = async (name: string, data: string | Buffer): Promise<Buffer> => {
    const from = client.replies.length;
    client.send(host, port(name), data);
    return client.reply(port(name), from);
  };

  assert.equal((await ask('echo', 'hello over udp')).toString(), 'hello over udp');
  const large = Buffer.alloc(8192, 'e');
  assert.ok((await ask('echo', large)).equals(large), 'echo returns a datagram of 8 KiB');

  // discard: a probe to echo, sent after the datagram to discard, answers first — and alone.
  const before = client.replies.length;
  client.send(host, port('discard'), 'into the void');
  await ask('echo', 'probe');
  assert.deepEqual(client.replies.slice(before).map((reply) => reply.port), [port('echo')], 'discard never replies');

  // Datagrams over the 8 KiB limit are dropped; a probe after one proves it was not answered.
  const beforeLarge = client.replies.length;
  client.send(host, port('echo'), Buffer.alloc(9000, 'x'));
  assert.equal((await ask('echo', 'after the large one')).toString(), 'after the large one');
  assert.equal(client.replies.slice(beforeLarge).length, 1, 'the oversized datagram got no reply');

  // A reply may be three times its request on the wire (headers: 28 bytes IPv4, 48 IPv6), so an
  // empty request may draw 56 bytes over IPv4 and 96 over IPv6.
  const emptyRoom = host.includes(':') ? 96 : 56;
  assertDaytime(await ask('daytime', 'x'));
  const quote = await ask('qotd', Buffer.alloc(0));
  assertQuote(quote);
  assert.ok(quote.length <= emptyRoom, `an empty request gets a quote that fits: ${quote.length} bytes`);
  assertTimeBytes(await ask('time', Buffer.alloc(0)));

  // 16 bytes of request draw a whole 74-byte line.
  const first = (await ask('chargen', Buffer.alloc(16, 'x'))).toString('latin1');
  const second = (await ask('chargen', Buffer.alloc(16, 'x'))).toString('latin1');
  for (const line of [first, second]) assert.match(line, /^[ -~]{72}\r\n$/);
  const next = String.fromCharCode(((first.charCodeAt(0) - 32 + 1) % 95) + 32);
  assert.equal(second[0], next, 'each datagram gets the next line of the rotation');
  const index = second.charCodeAt(0) - 32;
  assert.equal(second, chargenLine(index));
  // An empty one gets the next line cut to what fits, CRLF kept (RFC 864 lets a UDP reply be any length).
  const short = (await ask('chargen', Buffer.alloc(0))).toString('latin1');
  assert.equal(short, emptyRoom >= 74 ? chargenLine(index + 1) : `${chargenLine(index + 1).slice(0, emptyRoom - 2)}\r\n`);

  for (const reply of client.replies) assert.equal(reply.address, host, 'replies leave from the address the request went to');
}

describe('switchboard serve', () => {
  it('serves every service over TCP and UDP on 127.0.0.1 with the exact formats', async (t) => {
    const cli = startCli(t, ['serve', '--listen', '127.0.0.1:0']);
    const listening = await cli.listening(SERVICES.length * 2);
    assert.deepEqual(
      listening.map((entry) => `${entry.transport} ${entry.name}`),
      SERVICES.flatMap((name) => [`tcp ${name}`, `udp ${name}`]),
      'in standard-port order, TCP then UDP',
    );
    for (const entry of listening) assert.equal(entry.host, '127.0.0.1');
    for (const name of SERVICES) assert.equal(CliProcess.find(listening, name, 'udp').port, CliProcess.find(listening, name, 'tcp').port, `${name}: UDP on the TCP port`);
    await checkServicesOverTcp(t, listening, '127.0.0.1');
    await checkServicesOverUdp(t, listening, '127.0.0.1');
    assert.deepEqual(await cli.stop(), { code: 0, signal: null });
    // The one oversized datagram is reported in a drop summary (at the latest when closing).
    assert.match(cli.stderr.text, /^warning: echo udp: dropped 1 datagram\(s\) in \d+\.\ds \(1 too-large\)$/);
  });

  it('serves every service over TCP and UDP on [::1]', async (t) => {
    if (!hostHasIPv6()) return t.skip('SKIPPED LOUDLY: this host has no IPv6');
    const cli = startCli(t, ['serve', '--listen', '[::1]:0']);
    const listening = await cli.listening(SERVICES.length * 2);
    for (const entry of listening) assert.equal(entry.host, '::1');
    await checkServicesOverTcp(t, listening, '::1');
    await checkServicesOverUdp(t, listening, '::1');
    assert.equal((await cli.stop()).code, 0);
  });

  it('prints one line per bound socket, IPv6 in brackets, sharing a port-0 port across hosts', async (t) => {
    if (!hostHasIPv6()) return t.skip('SKIPPED LOUDLY: this host has no IPv6');
    const cli = startCli(t, ['serve', 'time', '--listen', '127.0.0.1:0', '--listen', '[::1]:0']);
    await cli.listening(4);
    const lines = cli.stdout.lines.filter((line) => line.startsWith('listening'));
    const port = /:(\d+) time$/.exec(lines[0]!)![1];
    assert.deepEqual(lines, [
      `listening tcp 127.0.0.1:${port} time`,
      `listening tcp [::1]:${port} time`,
      `listening udp 127.0.0.1:${port} time`,
      `listening udp [::1]:${port} time`,
    ], 'one port for every socket of the service');
    assert.equal((await cli.stop()).code, 0);
  });

  it('serves all six on localhost at 10000 + the standard port with no arguments (npm start)', async (t) => {
    const cli = startCli(t, []);
    const exitedEarly = cli.exited.then(() => true);
    const sockets = SERVICES.length * 2 * (hostHasIPv6() ? 2 : 1);
    const ready = cli.listening(sockets).then(() => false);
    if (await within(Promise.race([ready, exitedEarly]), 'startup')) {
      if (/address already in use/.test(cli.stderr.text)) return t.skip(`SKIPPED LOUDLY: the default ports are busy: ${cli.stderr.text}`);
      assert.fail(`exited at startup: ${cli.stderr.text}`);
    }
    const listening = (await cli.listening(sockets)).filter((entry) => entry.transport === 'tcp');
    const expected = { echo: 10007, discard: 10009, daytime: 10013, qotd: 10017, chargen: 10019, time: 10037 };
    for (const [name, port] of Object.entries(expected)) {
      assert.ok(listening.some((entry) => entry.name === name && entry.host === '127.0.0.1' && entry.port === port), `${name} on 127.0.0.1:${port}`);
      if (hostHasIPv6()) assert.ok(listening.some((entry) => entry.name === name && entry.host === '::1' && entry.port === port), `${name} on [::1]:${port}`);
    }
    assertTimeBytes(await tcpExchange(t, '127.0.0.1', 10037, undefined, { end: false }));
    assert.equal((await cli.stop()).code, 0);
  });

  it('offsets the other services from the first one\'s --listen port', async (t) => {
    const probe = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0']);
    const [echo] = await probe.listening(2);
    await probe.stop();
    // The probe's port is free again; use the range just above it for echo (7) and daytime (13).
    const base = echo!.port < 60_000 ? echo!.port : 20_000;
    const cli = startCli(t, ['serve', 'echo', 'daytime', '--listen', `127.0.0.1:${base}`]);
    const exitedEarly = cli.exited.then(() => true);
    if (await within(Promise.race([cli.listening(4).then(() => false), exitedEarly]), 'startup')) {
      if (/address already in use/.test(cli.stderr.text)) return t.skip(`SKIPPED LOUDLY: port ${base + 6} is busy`);
      assert.fail(cli.stderr.text);
    }
    const listening = await cli.listening(4);
    assert.equal(CliProcess.find(listening, 'echo').port, base);
    assert.equal(CliProcess.find(listening, 'daytime').port, base + 6);
    assertDaytime(await tcpExchange(t, '127.0.0.1', base + 6, undefined, { end: false }));
    assert.equal((await cli.stop()).code, 0);
  });

  it('serves qotd from --quotes FILE', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-quotes-'));
    const file = join(dir, 'quotes.txt');
    writeFileSync(file, 'The only quote.\n-- Test\n%\n');
    const cli = startCli(t, ['serve', 'qotd', '--quotes', file, '--listen', '127.0.0.1:0']);
    const [qotd] = await cli.listening(2);
    assert.equal((await tcpExchange(t, '127.0.0.1', qotd!.port, undefined, { end: false })).toString(), 'The only quote.\r\n-- Test\r\n');
    const client = await udpClient(t);
    client.send('127.0.0.1', qotd!.port, '');
    assert.equal((await client.reply(qotd!.port)).toString(), 'The only quote.\r\n-- Test\r\n');
    assert.equal((await cli.stop()).code, 0);
  });

  it('logs one JSON object per line with --json', async (t) => {
    const cli = startCli(t, ['serve', 'echo', 'time', '--json', '--listen', '127.0.0.1:0']);
    await cli.stdout.waitForCount(/"event":"listening"/, 4, 'JSON listening lines');
    const stop = await cli.stop();
    assert.equal(stop.code, 0);
    const records = cli.stdout.lines.filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      records.map((record) => `${record.event}${record.transport ? ` ${record.transport} ${record.service}` : ''}`),
      ['listening tcp echo', 'listening udp echo', 'listening tcp time', 'listening udp time', 'closing', 'closed'],
    );
    for (const record of records) {
      assert.equal(typeof record.time, 'string');
      assert.ok(['info', 'warn', 'error'].includes(record.level as string));
      assert.equal(typeof record.msg, 'string');
    }
    const [echo] = records;
    assert.equal(echo!.listener, `127.0.0.1:${echo!.port}`, 'the listener label of its metrics');
    assert.deepEqual({ ...echo, time: undefined, port: undefined, listener: undefined }, {
      time: undefined,
      level: 'info',
      event: 'listening',
      msg: `listening tcp 127.0.0.1:${echo!.port} echo`,
      transport: 'tcp',
      address: '127.0.0.1',
      port: undefined,
      family: 'IPv4',
      service: 'echo',
      listener: undefined,
    });
  });

  it('answers a real client program: socat talks to echo and daytime over TCP and UDP', async (t) => {
    if (!hasProgram('socat')) return t.skip('SKIPPED LOUDLY: socat is not installed (.ci/run installs it)');
    const cli = startCli(t, ['serve', 'echo', 'daytime', '--listen', '127.0.0.1:0']);
    const listening = await cli.listening(4);
    const echo = await runSocat(['-', `TCP:127.0.0.1:${CliProcess.find(listening, 'echo').port}`], 'hello from socat\n');
    assert.equal(echo, 'hello from socat\n');
    const daytime = await runSocat(['-u', `TCP:127.0.0.1:${CliProcess.find(listening, 'daytime').port}`, '-'], '');
    assertDaytime(Buffer.from(daytime, 'latin1'));
    // UDP: socat sends stdin as one datagram, prints the reply, and gives up 2 s after stdin ends.
    const udpEcho = await runSocat(['-t', '2', '-', `UDP:127.0.0.1:${CliProcess.find(listening, 'echo', 'udp').port}`], 'hello over udp\n');
    assert.equal(udpEcho, 'hello over udp\n');
    assert.equal((await cli.stop()).code, 0);
  });
});

/** Runs socat with `input` on its stdin; resolves with its stdout once it exits 0. */
export async function runSocat(args: readonly string[], input: string): Promise<string> {
  const child = spawn('socat', [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('latin1').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  child.stdin.end(input);
  const code = await within(new Promise<number | null>((resolve) => child.once('close', resolve)), `socat ${args.join(' ')}`);
  if (code !== 0) {
    child.kill();
    throw new Error(`socat exited with ${code}: ${err}`);
  }
  return out;
}
