/**
 * `switchboard run MODULE` as a child process, with both shipped examples (an event-handler
 * chat and an async length-prefixed protocol), and the ways a module can be wrong.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostHasIPv6 } from '../../src/net/addresses.ts';
import { connectClient, within } from '../helpers/net.ts';
import { MAIN, ROOT, runCliToExit, startCli } from './cli-process.ts';
import { tcpExchange } from './clients.ts';

/** Writes a module of `lines` as `name` in a new temporary folder; returns its path. */
function writeModule(name: string, ...lines: string[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'switchboard-run-')), name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Ports free a moment ago (the kernel's choice for port 0, released). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<Server>((resolve) => { const server = createServer(); server.listen(0, '127.0.0.1', () => resolve(server)); })));
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function frame(payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** Splits length-prefixed frames out of `bytes`. */
function frames(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 4 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    out.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  assert.equal(at, bytes.length, 'no partial frame');
  return out;
}

describe('switchboard run', () => {
  it('serves examples/chat.ts: lines go to the other clients, with names', async (t) => {
    const cli = startCli(t, ['run', 'examples/chat.ts', '--listen', '127.0.0.1:0']);
    const [listening] = await cli.listening(1);
    assert.equal(listening!.name, 'chat');
    const alice = await connectClient(t, listening!.port);
    await alice.waitForText('* welcome, guest-');
    const bob = await connectClient(t, listening!.port);
    await bob.waitForText('* welcome, guest-');
    await alice.waitForText(' joined\r\n');
    alice.send('/nick alice\r\n');
    await bob.waitForText('is now alice\r\n');
    alice.send('hello, ');
    alice.send('bob\nsecond line\r\n');
    await bob.waitForText('alice: second line\r\n');
    assert.match(bob.received.toString(), /\r\nalice: hello, bob\r\nalice: second line\r\n$/);
    assert.ok(!alice.received.toString().includes('alice: hello'), 'the sender does not get its own line');
    bob.send('/quit\r\n');
    await within(bob.closed, 'bob to be let go');
    await alice.waitForText(' left\r\n');
    assert.equal((await cli.stop()).code, 0);
  });

  it('serves examples/length-prefixed.ts: frames split anywhere, answered in order', async (t) => {
    const cli = startCli(t, ['run', 'examples/length-prefixed.ts', '--listen', '127.0.0.1:0']);
    const [listening] = await cli.listening(1);
    assert.equal(listening!.name, 'length-prefixed');
    const requests = Buffer.concat([
      frame(Buffer.from('\x01hello')),
      frame(Buffer.from('\x02abc')),
      frame(Buffer.from('\x03switchboard')),
      frame(Buffer.from('\x09?')),
      frame(Buffer.alloc(0)),
    ]);
    const client = await connectClient(t, listening!.port);
    for (let at = 0; at < requests.length; at += 3) client.send(requests.subarray(at, at + 3)); // split mid-header and mid-payload
    client.socket.end();
    await within(client.closed, 'the session to end after the last response');
    assert.deepEqual(frames(client.received).map((reply) => [reply[0], reply.subarray(1)]), [
      [0, Buffer.from('hello')],
      [0, Buffer.from('cba')],
      [0, createHash('sha256').update('switchboard').digest()],
      [1, Buffer.from('unknown operation 0x09')],
      [1, Buffer.from('empty request')],
    ]);
    assert.equal((await cli.stop()).code, 0);
  });

  it('applies --max-clients to an async session function before it runs', async (t) => {
    const cli = startCli(t, ['run', 'examples/length-prefixed.ts', '--max-clients', '1', '--listen', '127.0.0.1:0']);
    const [listening] = await cli.listening(1);
    const first = await connectClient(t, listening!.port);
    first.send(frame(Buffer.from('\x01one')));
    await first.waitForBytes(8);
    const second = await tcpExchange(t, '127.0.0.1', listening!.port, frame(Buffer.from('\x01two')), { allowReset: true });
    assert.equal(second.length, 0);
    await cli.stderr.waitFor(/^warning: refused 127\.0\.0\.1:\d+ \(length-prefixed\): too many clients \(--max-clients 1\)$/, 'the refusal');
    assert.equal((await cli.stop()).code, 0);
  });

  it('exits 2 for a module that exports no handler, and 1 for one that throws while loading', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-run-'));
    const empty = join(dir, 'empty.ts');
    writeFileSync(empty, 'export const answer: number = 42;\n');
    const broken = join(dir, 'broken.mjs');
    writeFileSync(broken, 'throw new Error("cannot start today");\n');
    const notHandlers = join(dir, 'not-handlers.mjs');
    writeFileSync(notHandlers, 'export default { data: "not a function" };\n');

    const none = await runCliToExit(t, ['run', empty, '--listen', '127.0.0.1:0']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^switchboard run: MODULE ".*empty\.ts" exports no handler: export default an event handler object/m);

    const bad = await runCliToExit(t, ['run', notHandlers, '--listen', '127.0.0.1:0']);
    assert.equal(bad.code, 2);

    const thrown = await runCliToExit(t, ['run', broken, '--listen', '127.0.0.1:0']);
    assert.equal(thrown.code, 1);
    assert.match(thrown.stderr, /^error: cannot load .*broken\.mjs: cannot start today$/m);
    assert.equal(thrown.stdout, '');
  });

  it('serves a named `handler` export from a .mjs module', async (t) => {
    const file = writeModule('upper.mjs', 'export const handler = async (session) => { for await (const chunk of session) await session.write(String(chunk).toUpperCase()); };\n');
    const cli = startCli(t, ['run', file, '--listen', '127.0.0.1:0']);
    const [listening] = await cli.listening(1);
    assert.equal(listening!.name, 'upper');
    assert.equal((await tcpExchange(t, '127.0.0.1', listening!.port, 'shout')).toString(), 'SHOUT');
    assert.equal((await cli.stop()).code, 0);
  });

  it('logs a failing handler with its peer, and its stack with --verbose and in --json', async (t) => {
    const file = writeModule('fails.mjs', 'export default {\n  data() {\n    throw new Error("kaboom");\n  },\n};\n');
    const hosts = hostHasIPv6() ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
    const plain = startCli(t, ['run', file, '--verbose', ...hosts.flatMap((host) => ['--listen', host === '::1' ? '[::1]:0' : `${host}:0`])]);
    const listening = await plain.listening(hosts.length);
    for (const host of hosts) {
      const client = await connectClient(t, listening[0]!.port, host);
      const port = client.socket.localPort;
      client.send('x');
      await within(client.closed, 'the failed session to close');
      const peer = host === '::1' ? `\\[::1\\]:${port}` : `127\\.0\\.0\\.1:${port}`;
      await plain.stderr.waitFor(new RegExp(`^error: fails ${peer}: data handler of session \\d+ failed: kaboom$`), `the failure from ${host}`);
    }
    const at = plain.stderr.lines.findIndex((line) => line.startsWith('error: fails '));
    assert.equal(plain.stderr.lines[at + 1], '    Error: kaboom');
    assert.match(plain.stderr.lines[at + 2]!, /^ {8}at Object\.data \(file:\/\/.*\/fails\.mjs:3:11\)$/);
    assert.equal((await plain.stop()).code, 0);

    const json = startCli(t, ['run', file, '--json', '--listen', '127.0.0.1:0']);
    const line = await json.stdout.waitFor(/"event":"listening"/, 'the listening line');
    const client = await connectClient(t, (JSON.parse(line) as { port: number }).port);
    const port = client.socket.localPort;
    client.send('x');
    const record = JSON.parse(await json.stderr.waitFor(/"event":"session-error"/, 'the JSON failure')) as Record<string, unknown>;
    assert.deepEqual({ ...record, time: undefined, stack: undefined, msg: undefined }, {
      time: undefined, level: 'error', event: 'session-error', msg: undefined, service: 'fails', code: 'SWB_ERR_HANDLER_FAILED',
      remoteAddress: '127.0.0.1', remotePort: port, stack: undefined,
    });
    assert.match(record.msg as string, new RegExp(`^fails 127\\.0\\.0\\.1:${port}: data handler of session \\d+ failed: kaboom$`));
    assert.match(record.stack as string, /^Error: kaboom\n {4}at Object\.data \(file:\/\/.*\/fails\.mjs:3:11\)/);
    assert.equal((await json.stop()).code, 0);
  });

  it('takes server options from the module, under the flags', async (t) => {
    const file = writeModule('capped.mjs',
      "export const options = { maxConnections: 1, busyMessage: 'full, try later\\r\\n', firstByteTimeout: 300 };",
      'export default { data(session, chunk) { session.write(chunk); } };',
    );

    const modulesOwn = startCli(t, ['run', file, '--listen', '127.0.0.1:0']);
    const [listening] = await modulesOwn.listening(1);
    const first = await connectClient(t, listening!.port);
    first.send('one');
    await first.waitForText('one');
    const second = await tcpExchange(t, '127.0.0.1', listening!.port, undefined, { end: false, allowReset: true });
    assert.equal(second.toString(), 'full, try later\r\n', "the module's cap and busy message");
    await modulesOwn.stderr.waitFor(/^warning: refused 127\.0\.0\.1:\d+ \(capped\): too many clients \(maxConnections 1\)$/, 'the refusal naming the option');
    assert.equal((await modulesOwn.stop()).code, 0);

    const flagsWin = startCli(t, ['run', file, '--max-clients', '2', '--listen', '127.0.0.1:0']);
    const [port] = (await flagsWin.listening(1)).map((entry) => entry.port);
    const a = await connectClient(t, port!);
    a.send('a');
    await a.waitForText('a');
    const b = await connectClient(t, port!);
    b.send('b');
    assert.equal(await b.waitForText('b'), 'b', '--max-clients 2 beats the module\'s 1');
    const c = await tcpExchange(t, '127.0.0.1', port!, undefined, { end: false, allowReset: true });
    assert.equal(c.toString(), 'full, try later\r\n');
    assert.equal((await flagsWin.stop()).code, 0);
  });

  it("closes a peer that sends nothing within the module's firstByteTimeout", async (t) => {
    const file = writeModule('impatient.mjs', "export const options = { firstByteTimeout: 200 };\nexport default { data(session, chunk) { session.write(chunk); } };\n");
    const cli = startCli(t, ['run', file, '--listen', '127.0.0.1:0']);
    const [listening] = await cli.listening(1);
    const mute = await connectClient(t, listening!.port);
    await within(mute.closed, 'the mute peer to be closed by firstByteTimeout');
    assert.equal((await tcpExchange(t, '127.0.0.1', listening!.port, 'spoke')).toString(), 'spoke');
    assert.equal((await cli.stop()).code, 0);
  });

  it('calls setup(server) once per server, listening, before the listening lines', async (t) => {
    const file = writeModule('hello.mjs',
      'let servers = 0;',
      'export function setup(server) {',
      '  console.log(`setup ${++servers} ${server.state} ${server.addresses.map((a) => a.port).join(",")}`);',
      "  server.on('session', (session) => server.broadcast(`${session.id} arrived\\n`, { except: session }));",
      '}',
      'export default { data() {} };',
    );
    const [one, two] = await freePorts(2);
    const cli = startCli(t, ['run', file, '--listen', `127.0.0.1:${one}`, '--listen', `127.0.0.1:${two}`]);
    if (await within(Promise.race([cli.listening(2).then(() => false), cli.exited.then(() => true)]), 'startup')) {
      if (/address already in use/.test(cli.stderr.text)) return t.skip(`SKIPPED LOUDLY: port ${one} or ${two} was taken meanwhile`);
      assert.fail(cli.stderr.text);
    }
    const setups = cli.stdout.lines.filter((line) => line.startsWith('setup '));
    const firstListening = cli.stdout.lines.findIndex((line) => line.startsWith('listening '));
    assert.deepEqual(setups, [`setup 1 listening ${one}`, `setup 2 listening ${two}`], 'one server per port');
    assert.ok(cli.stdout.lines.indexOf(setups[1]!) < firstListening, 'setup ran before the listening lines');
    const ports = setups.map((line) => /^setup \d listening (\d+)/.exec(line)?.[1]);
    const first = await connectClient(t, Number(ports[0]));
    await connectClient(t, Number(ports[0]));
    await first.waitForText(' arrived\n'); // broadcast from setup's listener
    assert.equal((await cli.stop()).code, 0);
  });

  it('exits 1 when setup(server) throws, leaving nothing bound', async (t) => {
    const file = writeModule('unready.mjs', 'export async function setup() { throw new Error("no database"); }\nexport default { data() {} };\n');
    const result = await runCliToExit(t, ['run', file, '--listen', '127.0.0.1:0']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error: .*unready\.mjs: setup\(server\) failed: no database$/m);
  });

  it("exits 2 for a module's unknown option, bad option value or setup that is not a function", async (t) => {
    const cases: [string, string, RegExp][] = [
      ['typo.mjs', 'export const options = { idleTimeOut: 5000 };', /^switchboard run: MODULE ".*typo\.mjs": unknown option "idleTimeOut" in its options export \(did you mean "idleTimeout"\?\)$/m],
      ['port.mjs', 'export const options = { port: 7000 };', /^switchboard run: MODULE ".*port\.mjs": options\.port is --listen's to set$/m],
      ['value.mjs', 'export const options = { firstByteTimeout: -1 };', /^switchboard run: MODULE ".*value\.mjs": options: `firstByteTimeout` must be/m],
      ['setup.mjs', 'export const setup = 42;', /^switchboard run: MODULE ".*setup\.mjs": its setup export must be a function \(server\) => …, got number$/m],
    ];
    for (const [name, line, message] of cases) {
      const file = writeModule(name, line, 'export default { data() {} };');
      const result = await runCliToExit(t, ['run', file, '--listen', '127.0.0.1:0']);
      assert.equal(result.code, 2, name);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '', 'nothing was bound');
    }
  });

  it("says how to run an example of this checkout when 'switchboard' is not this checkout's source", async (t) => {
    if (existsSync(join(ROOT, 'dist', 'index.js'))) return t.skip('SKIPPED LOUDLY: dist/ is built, so the example would load (with a warning) instead of failing');
    const result = spawnSync(process.execPath, [MAIN, 'run', 'examples/chat.ts', '--listen', '127.0.0.1:0'], { cwd: ROOT, encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^error: cannot load examples\/chat\.ts: .* \(in this checkout 'switchboard' is dist\/index\.js, not the src\/index\.ts this command runs: start node with --conditions=switchboard-source, as npm start does\)$/m);
  });
});
