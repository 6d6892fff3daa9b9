/**
 * Workers under `switchboard up`: the `workers` key (and `up --workers`), read and checked like
 * every key; built-in and module services served by workers over TCP and UDP, with the metrics
 * endpoint summing them; and a reload that replaces a changed service's workers.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/cli/config/load-config.ts';
import { runCliToExit, startCli, type CliProcess } from '../cli/cli-process.ts';
import { tcpExchange, udpClient } from '../cli/clients.ts';
import { createTestCertificates } from '../helpers/certs.ts';
import { TestClient, until } from '../helpers/net.ts';
import { processAlive as alive } from '../helpers/process-alive.ts';
import { httpRequest, parseSamples, promtoolCheck, total } from '../observability/scrape.ts';

const PID_ECHO = fileURLToPath(new URL('./fixtures/pid-echo.ts', import.meta.url));

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swb-workers-up-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The first line a connection to `port` receives. */
async function greeting(port: number): Promise<string> {
  const client = new TestClient(connectTcp(port, '127.0.0.1'));
  try {
    const text = await client.waitForText('\n');
    return text.slice(0, text.indexOf('\n'));
  } finally {
    await client.close();
  }
}

/** The pids of `service`'s workers line (the last one logged at or after line `from`). */
async function workerPids(cli: CliProcess, service: string, from = 0): Promise<number[]> {
  const line = await cli.stdout.waitFor(new RegExp(`^${service}: \\d+ workers \\(mode \\w+\\): pids [\\d ]+$`), `${service}'s workers line`, 20_000, from);
  return line.replace(/.*pids /, '').split(' ').map(Number);
}

describe('the workers key', () => {
  it('reads workers = N and "auto" on built-in and module services (on passed sockets too), and reports a bad count and a program service', () => {
    const good = parseConfig('[services.e]\nbuiltin = "echo"\nworkers = 3\n[services.m]\nmodule = "m.ts"\nlisten = ["127.0.0.1:7000"]\nworkers = "auto"\n[services.d]\nmodule = "m.ts"\nlisten = ["systemd:web"]\nworkers = 2\n', '/tmp/x.toml');
    assert.equal(good.problems, undefined, JSON.stringify(good.problems));
    assert.deepEqual(good.config!.services.map((service) => service.workers), [3, 'auto', 2]);
    const bad = parseConfig(
      '[services.a]\nbuiltin = "echo"\nworkers = 0\n[services.b]\nbuiltin = "daytime"\nworkers = "many"\n[services.c]\nprogram = "cat"\nlisten = ["127.0.0.1:7001"]\nworkers = 2\n[global]\nmetrics-per-worker = "yes"\n',
      '/tmp/x.toml',
    );
    const messages = bad.problems!.map((problem) => problem.message);
    assert.deepEqual(messages.sort(), [
      'global.metrics-per-worker: expected true or false, got a string ("yes")',
      'services.a.workers: "0": must be auto or an integer from 1 to 1024',
      'services.b.workers: "many": must be auto or an integer from 1 to 1024',
      'services.c.workers: workers is for built-in services and module services, not for program services',
    ]);
  });

  it('makes switchboard check exit 2 with the problem and its line', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    await writeFile(file, '[services.e]\nbuiltin = "echo"\nlisten = ["127.0.0.1:0"]\nworkers = 2000\n');
    const result = await runCliToExit(t, ['check', file]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /:4:\d+: services\.e\.workers: .*must be auto or an integer from 1 to 1024/);
  });
});

describe('switchboard up with workers', () => {
  it('serves a built-in service (TCP and UDP) and a module service from workers, with one summed scrape', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    await writeFile(file, `[global]\nmetrics = "127.0.0.1:0"\n\n[services.echo]\nbuiltin = "echo"\nlisten = ["127.0.0.1:0"]\nworkers = 2\n\n[services.pids]\nmodule = ${JSON.stringify(PID_ECHO)}\nlisten = ["127.0.0.1:0"]\n`);
    // --workers 2 serves `pids` (no key of its own) from workers too.
    const cli = startCli(t, ['up', file, '--workers', '2', '--drain-timeout', '1s']);
    const listening = await cli.listening(3, 30_000);
    await cli.stdout.waitFor(/^up: /, 'the up line', 20_000);
    const [echoPids, pidsPids] = [await workerPids(cli, 'echo'), await workerPids(cli, 'pids')];
    assert.equal(echoPids.length, 2);
    const echoTcp = listening.find((l) => l.name === 'echo' && l.transport === 'tcp')!;
    const echoUdp = listening.find((l) => l.name === 'echo' && l.transport === 'udp')!;
    const pids = listening.find((l) => l.name === 'pids')!;
    assert.equal((await tcpExchange(t, '127.0.0.1', echoTcp.port, 'hello\n')).toString(), 'hello\n');
    const udp = await udpClient(t);
    udp.send('127.0.0.1', echoUdp.port, 'ping');
    assert.equal((await udp.reply(echoUdp.port)).toString(), 'ping');
    const seen = new Set<number>();
    let greeted = 0;
    for (; greeted < 40 && seen.size < 2; greeted++) seen.add(Number(/^pid (\d+)/.exec(await greeting(pids.port))?.[1]));
    assert.deepEqual([...seen].sort(), [...pidsPids].sort(), 'both workers of pids served, not up itself');
    assert.ok(!seen.has(cli.child.pid!));
    const metricsLine = await cli.stdout.waitFor(/^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/, 'the metrics line');
    const scrape = (await httpRequest(Number(/:(\d+)\/metrics/.exec(metricsLine)![1]), '/metrics')).body;
    const check = promtoolCheck(scrape);
    if (check) assert.equal(check.status, 0, check.output);
    const samples = parseSamples(scrape);
    assert.equal(total(samples, 'switchboard_sessions_opened_total', { service: 'pids' }), greeted);
    assert.equal(total(samples, 'switchboard_sessions_opened_total', { service: 'echo' }), 1);
    assert.equal(total(samples, 'switchboard_udp_datagrams_received_total', { service: 'echo' }), 1);
    assert.deepEqual(await cli.stop(15_000), { code: 0, signal: null });
    await until(() => [...echoPids, ...pidsPids].every((pid) => !alive(pid)), 'every worker gone', 5_000);
  });

  it('on SIGHUP with only new TLS material, every worker re-reads the files in place (the same pids)', async (t) => {
    const dir = await tempDir(t);
    const certs = await createTestCertificates(t);
    const cert = join(dir, 'live.pem');
    const key = join(dir, 'live.key');
    await copyFile(certs.server.certPath, cert);
    await copyFile(certs.server.keyPath, key);
    const file = join(dir, 'switchboard.toml');
    const text = `[services.pids]\nmodule = ${JSON.stringify(PID_ECHO)}\nlisten = ["127.0.0.1:0"]\nworkers = 2\ntls-cert = "live.pem"\ntls-key = "live.key"\n`;
    await writeFile(file, text);
    const cli = startCli(t, ['up', file, '--drain-timeout', '1s']);
    const [listening] = await cli.listening(1, 30_000);
    await cli.stdout.waitFor(/^up: /, 'the up line', 20_000);
    const pids = await workerPids(cli, 'pids');
    await copyFile(certs.a.certPath, cert);
    await copyFile(certs.a.keyPath, key);
    const from = cli.stdout.lines.length;
    cli.signal('SIGHUP');
    await cli.stdout.waitFor(/^reloaded /, 'the reload', 30_000, from);
    assert.match(cli.stdout.lines.slice(from).join('\n'), /reload: pids: TLS material re-read from .*live\.pem by every worker/);
    const seen = new Set<number>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const socket = connectTls({ host: '127.0.0.1', port: listening!.port, ca: certs.ca.cert, checkServerIdentity: () => undefined });
      const client = new TestClient(socket);
      const line = await client.waitForText('\n');
      assert.equal(String(socket.getPeerCertificate().subject.CN), 'a.test', line);
      seen.add(Number(/^pid (\d+)/.exec(line)?.[1]));
      await client.close();
    }
    assert.deepEqual([...seen].sort(), [...pids].sort(), 'the same workers, both on the new certificate');
    assert.deepEqual(await cli.stop(15_000), { code: 0, signal: null });
  });

  it('moves a service from one process onto workers and back on SIGHUP, on the same port', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const text = (workers: string) => `[services.pids]\nmodule = ${JSON.stringify(PID_ECHO)}\nlisten = ["127.0.0.1:${port}"]\n${workers}`;
    await writeFile(file, text(''));
    const cli = startCli(t, ['up', file, '--drain-timeout', '1s']);
    await cli.listening(1, 30_000);
    await cli.stdout.waitFor(/^up: /, 'the up line', 20_000);
    assert.equal(await greeting(port), `pid ${cli.child.pid}`, 'served by up itself');
    let from = cli.stdout.lines.length;
    await writeFile(file, text('workers = 2\n'));
    cli.signal('SIGHUP');
    await cli.stdout.waitFor(/^reloaded /, 'the reload onto workers', 30_000, from);
    assert.match(cli.stdout.lines.slice(from).join('\n'), /reload: pids: one process → 2 worker\(s\): replaced/);
    const pids = await workerPids(cli, 'pids', from);
    assert.ok(pids.includes(Number(/^pid (\d+)/.exec(await greeting(port))?.[1])), 'served by a worker');
    from = cli.stdout.lines.length;
    await writeFile(file, text(''));
    cli.signal('SIGHUP');
    await cli.stdout.waitFor(/^reloaded /, 'the reload back', 30_000, from);
    assert.match(cli.stdout.lines.slice(from).join('\n'), /reload: pids: workers → one process: replaced/);
    await until(() => pids.every((pid) => !alive(pid)), 'the workers to exit', 10_000);
    assert.equal(await greeting(port), `pid ${cli.child.pid}`, 'served by up itself again');
    assert.deepEqual(await cli.stop(15_000), { code: 0, signal: null });
  });

  it('on SIGHUP replaces a changed service with new workers beside the old (which drain and exit), and leaves an unchanged one alone', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'switchboard.toml');
    const text = (maxClients: number) => `[services.pids]\nmodule = ${JSON.stringify(PID_ECHO)}\nlisten = ["127.0.0.1:0"]\nworkers = 2\nmax-clients = ${maxClients}\n\n[services.echo]\nbuiltin = "echo"\nlisten = ["127.0.0.1:0"]\ntransports = ["tcp"]\nworkers = 1\n`;
    await writeFile(file, text(10));
    const cli = startCli(t, ['up', file, '--drain-timeout', '1s']);
    const listening = await cli.listening(2, 30_000);
    await cli.stdout.waitFor(/^up: /, 'the up line', 20_000);
    const oldPids = await workerPids(cli, 'pids');
    const echoPids = await workerPids(cli, 'echo');
    const port = listening.find((l) => l.name === 'pids')!.port;
    const from = cli.stdout.lines.length;
    await writeFile(file, text(20));
    cli.signal('SIGHUP');
    await cli.stdout.waitFor(/^reloaded /, 'the reload', 30_000, from);
    const lines = cli.stdout.lines.slice(from).join('\n');
    assert.match(lines, /reload: pids: replaced by 2 new worker\(s\) beside the old ones/);
    assert.doesNotMatch(lines, /reload: echo/);
    const newPids = await workerPids(cli, 'pids', from);
    assert.equal(newPids.filter((pid) => oldPids.includes(pid)).length, 0, 'new processes');
    await until(() => oldPids.every((pid) => !alive(pid)), 'the old workers to drain and exit', 10_000);
    assert.ok(echoPids.every(alive), 'the unchanged service kept its workers');
    // The same port (reuseport: the new workers bound it beside the old), now served by the new ones.
    const pid = Number(/^pid (\d+)/.exec(await greeting(port))?.[1]);
    assert.ok(newPids.includes(pid), `served by a new worker (${pid})`);
    assert.deepEqual(await cli.stop(15_000), { code: 0, signal: null });
  });
});
