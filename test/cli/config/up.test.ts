/**
 * `switchboard up`, `check` and `reload` as child processes: every kind of service over TCP and
 * UDP on 127.0.0.1 and ::1, probed with real clients; bad files refused with nothing bound; and
 * reloads — each under a bounded loop of connections that must all succeed where the service
 * carries on.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { describe, it, type TestContext } from 'node:test';
import { createTestCertificates } from '../../helpers/certs.ts';
import { connectClient, within } from '../../helpers/net.ts';
import { CliProcess, ROOT, runCliToExit, startCli, type Listening } from '../cli-process.ts';
import { tcpExchange, udpClient } from '../clients.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-up-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A handler module with no imports: upper-cases what it gets. */
const UPPER_MODULE = 'export default { data(session, chunk) { session.write(chunk.toString().toUpperCase()); } };\n';

/** Starts `up FILE`, waits for `count` listening lines. */
async function up(t: TestContext, file: string, count: number, args: readonly string[] = []): Promise<{ cli: CliProcess; listening: Listening[] }> {
  const cli = startCli(t, ['up', file, ...args]);
  const listening = await cli.listening(count);
  await cli.stdout.waitFor(/^up: /, 'the up line');
  return { cli, listening };
}

/** Rewrites the file and sends SIGHUP; resolves with the log lines of that reload (info and errors). */
async function reload(cli: CliProcess, file: string, text: string): Promise<string[]> {
  await writeFile(file, text);
  const fromOut = cli.stdout.lines.length;
  const fromErr = cli.stderr.lines.length;
  cli.signal('SIGHUP');
  await within(
    Promise.race([cli.stdout.waitFor(/^reloaded /, 'reloaded', undefined, fromOut), cli.stderr.waitFor(/reload refused/, 'reload refused', undefined, fromErr)]),
    'the reload',
  );
  return [...cli.stdout.lines.slice(fromOut), ...cli.stderr.lines.slice(fromErr)];
}

/**
 * Connections one after another (two at a time) until stopped, each sending `ping` and
 * expecting what `expect` accepts; counts the failures. Bounded: at most 2000 connections, each
 * within the helpers' wait.
 */
function connectionLoop(t: TestContext, target: () => { host: string; port: number }, accept: (reply: string) => boolean) {
  let running = true;
  const results = { ok: 0, failed: [] as string[] };
  const worker = async (): Promise<void> => {
    for (let i = 0; running && i < 1000; i++) {
      const { host, port } = target();
      try {
        const reply = (await tcpExchange(t, host, port, 'ping\n')).toString();
        if (accept(reply)) results.ok++;
        else results.failed.push(`${host}:${port}: got ${JSON.stringify(reply)}`);
      } catch (error) {
        results.failed.push(`${host}:${port}: ${(error as Error).message}`);
      }
    }
  };
  const workers = [worker(), worker()];
  return {
    results,
    /** Waits for `count` more successes. */
    async more(count: number): Promise<void> {
      const goal = results.ok + count;
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => (results.ok >= goal || !running ? resolve() : void setImmediate(check));
          check();
        }),
        `${count} more connections`,
      );
    },
    async stop(): Promise<typeof results> {
      running = false;
      await within(Promise.all(workers), 'the connection loop to stop');
      return results;
    },
  };
}

describe('switchboard up', () => {
  it('serves every kind of service over TCP and UDP, IPv4 and IPv6', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'upper.mjs'), UPPER_MODULE);
    const file = join(dir, 'switchboard.toml');
    await writeFile(
      file,
      `[services.echo]\nbuiltin = "echo"\nlisten = ["127.0.0.1:0", "[::1]:0"]\n\n[services.time]\nbuiltin = "time"\nlisten = ["127.0.0.1:0", "[::1]:0"]\ntransports = ["udp"]\n\n` +
        `[services.cat]\nprogram = "sh"\nargs = ["-c", "printf \\"$GREETING \\"; cat"]\nenv = { GREETING = "hi" }\nlisten = ["127.0.0.1:0", "[::1]:0"]\n\n` +
        `[services.upper]\nmodule = "upper.mjs"\nlisten = ["127.0.0.1:0", "[::1]:0"]\n`,
    );
    // echo: 2 tcp + 2 udp; time: 2 udp; cat: 2 tcp; upper: 2 tcp.
    const { listening } = await up(t, file, 10);
    for (const host of ['127.0.0.1', '::1']) {
      const family = host === '::1' ? 6 : 4;
      assert.equal((await tcpExchange(t, host, CliProcess.find(listening, 'echo', 'tcp', host).port, 'hello')).toString(), 'hello');
      assert.equal((await tcpExchange(t, host, CliProcess.find(listening, 'cat', 'tcp', host).port, 'there')).toString(), 'hi there');
      assert.equal((await tcpExchange(t, host, CliProcess.find(listening, 'upper', 'tcp', host).port, 'loud')).toString(), 'LOUD');
      const udp = await udpClient(t, family);
      const echoPort = CliProcess.find(listening, 'echo', 'udp', host).port;
      udp.send(host, echoPort, 'datagram');
      assert.equal((await udp.reply(echoPort)).toString(), 'datagram');
      const timePort = CliProcess.find(listening, 'time', 'udp', host).port;
      udp.send(host, timePort, '');
      assert.equal((await udp.reply(timePort)).length, 4);
    }
    assert.ok(!listening.some((entry) => entry.name === 'time' && entry.transport === 'tcp'), 'time serves udp only');
  });

  it('refuses a bad file with every problem and exit 2, binding nothing', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    await writeFile(file, '[services.chat]\nprogram = "./no-such-program"\nlisten = ["127.0.0.1:0"]\n\n[services.b]\nbuiltin = "echo"\nlisten = ["127.0.0.1:0", "::1:7000"]\n');
    const result = await runCliToExit(t, ['up', file]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '', 'nothing listened');
    assert.deepEqual(result.stderr.trim().split('\n'), [
      `${file}:2:1: services.chat.program: "${join(dir, 'no-such-program')}": no such file`,
      `${file}:7:26: services.b.listen[1]: "::1:7000": an IPv6 address goes in brackets: [::1]:7000`,
      `switchboard up: 2 problem(s) in ${file}; nothing started`,
    ]);
  });

  it('binds all or nothing: an address in use fails the start (exit 1) and releases what was bound', async (t) => {
    const dir = await tempDir(t);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as { port: number }).port;
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const freePort = (free.address() as { port: number }).port;
    await new Promise<void>((resolve) => free.close(() => resolve()));
    const file = join(dir, 'switchboard.toml');
    await writeFile(file, `[services.first]\nbuiltin = "echo"\ntransports = ["tcp"]\nlisten = ["127.0.0.1:${freePort}"]\n\n[services.second]\nbuiltin = "echo"\ntransports = ["tcp"]\nlisten = ["127.0.0.1:${port}"]\n`);
    const result = await runCliToExit(t, ['up', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`error: listen tcp 127\\.0\\.0\\.1:${port}: address already in use`));
    assert.equal(result.stdout, '', 'no listening line: nothing was ready');
    // The first service's port was released.
    const again = createServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(freePort, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => again.close(() => resolve()));
  });

  it('writes its pid file, and switchboard reload signals it', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    const pidFile = join(dir, 'up.pid');
    await writeFile(file, `[global]\npid-file = "up.pid"\n\n[services.echo]\nbuiltin = "echo"\ntransports = ["tcp"]\nlisten = ["127.0.0.1:0"]\n`);
    const { cli } = await up(t, file, 1);
    assert.equal((await readFile(pidFile, 'utf8')).trim(), String(cli.child.pid));
    const sent = await runCliToExit(t, ['reload', file]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stdout.trim(), `sent SIGHUP to pid ${cli.child.pid}`);
    await cli.stdout.waitFor(/^reloaded .*: no change$/, 'the reload');
    assert.equal((await cli.stop()).code, 0);
    await assert.rejects(readFile(pidFile), { code: 'ENOENT' }, 'removed at exit');
    const stale = await runCliToExit(t, ['reload', '--pid-file', pidFile]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /no such file \(is switchboard up running\?\)/);
  });
});

describe('switchboard check', () => {
  it('passes the documented example, binding nothing', async (t) => {
    const result = await runCliToExit(t, ['check', 'examples/switchboard.toml']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'examples/switchboard.toml: ok, 4 service(s): echo, daytime, upper, chat');
  });

  it('finds what the file names but lacks: a module that fails, a certificate that does not match its key, a name that does not resolve', async (t) => {
    const dir = await tempDir(t);
    const certs = await createTestCertificates(t);
    await writeFile(join(dir, 'broken.mjs'), 'throw new Error("boom");\n');
    const file = join(dir, 'switchboard.toml');
    await writeFile(
      file,
      `[services.m]\nmodule = "broken.mjs"\nlisten = ["127.0.0.1:0"]\n\n[services.tls]\nbuiltin = "echo"\ntransports = ["tcp"]\nlisten = ["127.0.0.1:0"]\ntls-cert = "${certs.server.certPath}"\ntls-key = "${certs.strayKeyPath}"\n\n[services.named]\nbuiltin = "echo"\nlisten = ["no-such-host.invalid:7000"]\n`,
    );
    const result = await runCliToExit(t, ['check', file]);
    assert.equal(result.code, 2);
    const lines = result.stderr.trim().split('\n');
    assert.match(lines[0]!, new RegExp(`^${file}:2:1: services\\.m\\.module: cannot load .*broken\\.mjs: boom$`));
    assert.match(lines[1]!, new RegExp(`^${file}:9:1: services\\.tls\\.tls-cert: .*does not match`));
    assert.match(lines[2]!, new RegExp(`^${file}:14:11: services\\.named\\.listen\\[0\\]: "no-such-host\\.invalid:7000": `));
    assert.equal(lines[3], `switchboard check: 3 problem(s) in ${file}; not ready to run`);
  });
});

describe('examples/switchboard.toml', () => {
  it('serves what it documents (on free ports)', async (t) => {
    const dir = await tempDir(t);
    const text = (await readFile(join(ROOT, 'examples/switchboard.toml'), 'utf8')).replace(/:\d{4,5}"/g, ':0"').replace('module = "chat.ts"', `module = "${join(ROOT, 'examples/chat.ts')}"`);
    const file = join(dir, 'switchboard.toml');
    await writeFile(file, text);
    // echo: localhost tcp+udp (4), daytime: udp (2), upper: 2, chat: localhost (2).
    const { listening } = await up(t, file, 10);
    assert.equal((await tcpExchange(t, '::1', CliProcess.find(listening, 'upper', 'tcp', '::1').port, 'shout\n')).toString(), 'SHOUT\n');
    assert.equal((await tcpExchange(t, '127.0.0.1', CliProcess.find(listening, 'echo', 'tcp', '127.0.0.1').port, 'x')).toString(), 'x');
    const udp = await udpClient(t, 6);
    const daytime = CliProcess.find(listening, 'daytime', 'udp', '::1').port;
    udp.send('::1', daytime, '');
    assert.match((await udp.reply(daytime)).toString(), /\d{4} \d\d:\d\d:\d\d/);
    const chat = await connectClient(t, CliProcess.find(listening, 'chat', 'tcp', '127.0.0.1').port);
    chat.send('/who\n');
    await chat.waitForText('\n');
  });
});

describe('reload', () => {
  const ECHO = `[services.echo]\nbuiltin = "echo"\ntransports = ["tcp"]\nlisten = ["127.0.0.1:0"]\n`;

  it('starts a service added and drains one removed; the others serve on without a failure', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    const old = `[services.old]\nbuiltin = "daytime"\ntransports = ["tcp"]\nlisten = ["127.0.0.1:0"]\n`;
    await writeFile(file, ECHO + old);
    const { cli, listening } = await up(t, file, 2);
    const echo = CliProcess.find(listening, 'echo');
    const loop = connectionLoop(t, () => ({ host: '127.0.0.1', port: echo.port }), (reply) => reply === 'ping\n');
    await loop.more(10);
    const lines = await reload(cli, file, `${ECHO}[services.new]\nbuiltin = "time"\ntransports = ["tcp"]\nlisten = ["[::1]:0"]\n`);
    assert.ok(lines.some((line) => /^reload: old: removed: draining/.test(line)), lines.join('\n'));
    assert.ok(lines.some((line) => line === 'reload: new: added'), lines.join('\n'));
    const added = CliProcess.find((await cli.listening(3)), 'new', 'tcp', '::1');
    assert.equal((await tcpExchange(t, '::1', added.port)).length, 4);
    await assert.rejects(tcpExchange(t, '127.0.0.1', CliProcess.find(listening, 'old').port), { code: 'ECONNREFUSED' });
    await loop.more(10);
    assert.deepEqual((await loop.stop()).failed, []);
  });

  it('changes a limit in place: an open session survives, the next connection gets the new limit', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    await writeFile(file, `${ECHO}max-clients = 3\n`);
    const { cli, listening } = await up(t, file, 1);
    const { port } = CliProcess.find(listening, 'echo');
    const open = await connectClient(t, port);
    open.send('before\n');
    await open.waitForText('before\n');
    const loop = connectionLoop(t, () => ({ host: '127.0.0.1', port }), (reply) => reply === 'ping\n');
    await loop.more(10);
    assert.deepEqual((await loop.stop()).failed, []);
    const lines = await reload(cli, file, `${ECHO}max-clients = 1\n`);
    assert.ok(lines.includes('reload: echo: max-clients 3 → 1 (next connections)'), lines.join('\n'));
    open.send('after\n');
    assert.equal(await open.waitForText('after\n'), 'before\nafter\n', 'the open session survives');
    // The open session holds the one place: the next connection is refused (closed at once, nothing echoed).
    assert.equal((await tcpExchange(t, '127.0.0.1', port, 'ping\n', { allowReset: true })).toString(), '');
    await cli.stderr.waitFor(/refused 127\.0\.0\.1:\d+ \(echo\): too many clients \(max-clients 1\)$/, 'the refusal naming the key');
  });

  it('rotates a certificate in place: the next handshakes get the new one, no connection fails', async (t) => {
    const dir = await tempDir(t);
    const certs = await createTestCertificates(t);
    const certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    await writeFile(certPath, certs.server.cert);
    await writeFile(keyPath, certs.server.key);
    const file = join(dir, 'switchboard.toml');
    const text = `${ECHO}tls-cert = "cert.pem"\ntls-key = "key.pem"\n`;
    await writeFile(file, text);
    const { cli, listening } = await up(t, file, 1);
    const { port } = CliProcess.find(listening, 'echo');
    const subjects: string[] = [];
    let failed = 0;
    const handshake = () =>
      within(
        new Promise<string>((resolve, reject) => {
          const socket = connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
            const cn = socket.getPeerCertificate().subject.CN as string;
            socket.end();
            resolve(cn);
          });
          socket.once('error', reject);
        }),
        'a TLS handshake',
      );
    const loop = (async () => {
      for (let i = 0; i < 400 && !subjects.includes('a.test'); i++) subjects.push(await handshake().catch(() => (failed++, 'failed')));
    })();
    await writeFile(certPath, certs.a.cert);
    await writeFile(keyPath, certs.a.key);
    const lines = await reload(cli, file, text);
    assert.ok(lines.some((line) => /^reload: echo: TLS material re-read/.test(line)), lines.join('\n'));
    await within(loop, 'the handshake loop');
    assert.equal(failed, 0);
    assert.equal(subjects[0], 'localhost');
    assert.equal(subjects.at(-1), 'a.test');
  });

  it('replaces a service whose address changed: the new one binds first, then the old one drains', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    await writeFile(file, ECHO);
    const { cli, listening } = await up(t, file, 1);
    const old = CliProcess.find(listening, 'echo');
    const open = await connectClient(t, old.port);
    let target = { host: '127.0.0.1', port: old.port };
    let switchedAt = Infinity;
    const loop = connectionLoop(t, () => target, (reply) => reply === 'ping\n');
    await loop.more(10);
    const reloading = reload(cli, file, ECHO.replace('"127.0.0.1:0"', '"[::1]:0"'));
    const moved = CliProcess.find(await cli.listening(2), 'echo', 'tcp', '::1');
    target = { host: '::1', port: moved.port };
    switchedAt = loop.results.ok + loop.results.failed.length;
    const lines = await reloading;
    assert.ok(lines.some((line) => /^reload: echo: listen changed: replaced \(new servers bound first; \d+ old session\(s\) draining\)$/.test(line)), lines.join('\n'));
    await loop.more(20);
    const { failed } = await loop.stop();
    // Only connections to the old address that raced the switch may fail (the old address is gone by design).
    assert.deepEqual(failed.filter((failure) => failure.startsWith('::1')), []);
    assert.ok(failed.length <= 2, `${failed.length} failures around the switch at ${switchedAt}: ${failed.join('; ')}`);
    // The old session is closed gracefully (the library's close: FIN after its output), not reset.
    await within(open.ended, 'the old session to end');
    assert.equal(open.error, undefined);
  });

  it('replaces a service whose deadlines changed on the same sockets: handed over, no connection refused', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    const text = `[services.echo]\nbuiltin = "echo"\nlisten = ["127.0.0.1:0"]\nidle-timeout = "1m"\n`;
    await writeFile(file, text);
    const { cli, listening } = await up(t, file, 2);
    const { port } = CliProcess.find(listening, 'echo');
    const loop = connectionLoop(t, () => ({ host: '127.0.0.1', port }), (reply) => reply === 'ping\n');
    await loop.more(10);
    const lines = await reload(cli, file, text.replace('"1m"', '"30s"'));
    assert.ok(lines.some((line) => /^reload: echo: idle-timeout changed: replaced \(the listening sockets handed over; \d+ old session\(s\) draining\)$/.test(line)), lines.join('\n'));
    await loop.more(20);
    assert.deepEqual((await loop.stop()).failed, []);
    // UDP was rebound on the same port.
    const udp = await udpClient(t, 4);
    udp.send('127.0.0.1', CliProcess.find(listening, 'echo', 'udp').port, 'still');
    assert.equal((await udp.reply(CliProcess.find(listening, 'echo', 'udp').port)).toString(), 'still');
  });

  it("changes an exec program in place: the listener stays, no connection fails, open sessions keep theirs", async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    const cat = `[services.prog]\nprogram = "cat"\nlisten = ["127.0.0.1:0", "[::1]:0"]\n`;
    await writeFile(file, cat);
    const { cli, listening } = await up(t, file, 2);
    const { port } = CliProcess.find(listening, 'prog', 'tcp', '::1');
    const open = await connectClient(t, port, '::1');
    open.send('old\n');
    await open.waitForText('old\n');
    const loop = connectionLoop(t, () => ({ host: '::1', port }), (reply) => reply === 'ping\n' || reply === 'PING\n');
    await loop.more(5);
    const lines = await reload(cli, file, cat.replace('program = "cat"', 'program = "tr"\nargs = ["a-z", "A-Z"]'));
    assert.ok(lines.includes('reload: prog: program "cat" → "tr a-z A-Z" (next connections; open ones keep theirs)'), lines.join('\n'));
    await loop.more(10);
    const { failed } = await loop.stop();
    assert.deepEqual(failed, []);
    assert.equal((await tcpExchange(t, '::1', port, 'now\n')).toString(), 'NOW\n');
    open.send('cat\n');
    assert.equal(await open.waitForText('cat\n'), 'old\ncat\n', 'the open session still runs cat');
    assert.ok(!cli.stdout.lines.slice(2).some((line) => line.startsWith('listening')), 'nothing was rebound');
  });

  it('re-imports a module whose file changed and swaps its handler in place: no connection fails', async (t) => {
    const dir = await tempDir(t);
    const modulePath = join(dir, 'shout.mjs');
    await writeFile(modulePath, UPPER_MODULE);
    const file = join(dir, 'switchboard.toml');
    const text = `[services.shout]\nmodule = "shout.mjs"\nlisten = ["127.0.0.1:0"]\n`;
    await writeFile(file, text);
    const { cli, listening } = await up(t, file, 1);
    const { port } = CliProcess.find(listening, 'shout');
    const loop = connectionLoop(t, () => ({ host: '127.0.0.1', port }), (reply) => reply === 'PING\n' || reply === '[ping\n]');
    await loop.more(5);
    await writeFile(modulePath, 'export default { data(session, chunk) { session.write(`[${chunk}]`); } };\n');
    const lines = await reload(cli, file, text);
    assert.ok(lines.includes(`reload: shout: module ${modulePath} reloaded (next connections; open ones keep theirs)`), lines.join('\n'));
    await loop.more(10);
    assert.deepEqual((await loop.stop()).failed, []);
    assert.equal((await tcpExchange(t, '127.0.0.1', port, 'x')).toString(), '[x]');
  });

  it('changes nothing for an invalid file, and logs its problems', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    await writeFile(file, `${ECHO}max-clients = 5\n`);
    const { cli, listening } = await up(t, file, 1);
    const { port } = CliProcess.find(listening, 'echo');
    const loop = connectionLoop(t, () => ({ host: '127.0.0.1', port }), (reply) => reply === 'ping\n');
    await loop.more(5);
    const lines = await reload(cli, file, `${ECHO}max-clients = 1\nlisten-on = 3\n[services.more]\nbuiltin = "qotd"\nlisten = ["::1:17"]\n`);
    assert.deepEqual(lines, [
      `error: ${file}:6:1: services.echo.listen-on: unknown key "listen-on" (did you mean "listen"?)`,
      `error: ${file}:9:11: services.more.listen[0]: "::1:17": an IPv6 address goes in brackets: [::1]:17`,
      `error: reload refused: 2 problem(s) in ${file}; nothing changed`,
    ]);
    await loop.more(10);
    assert.deepEqual((await loop.stop()).failed, []);
    // max-clients is still 5: five at once are served.
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => connectClient(t, port)));
    for (const client of clients) client.send('x');
    for (const client of clients) assert.equal(await client.waitForText('x'), 'x');
  });
});
