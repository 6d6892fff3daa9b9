/**
 * `switchboard up` with the keys of the features built beside the config file: a service behind
 * the PROXY protocol (`proxy-protocol`, `proxy-untrusted`), the metrics endpoint (`[global]
 * metrics`) over every service and across reloads, services on passed sockets
 * (`listen = ["systemd:NAME"]`) under the real systemd-socket-activate, and sd_notify around a
 * config reload. Child processes, real sockets on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { encodeProxyHeader } from '../../../src/index.ts';
import { HAS_SOCKET_ACTIVATE, HAS_SYSTEMD_NOTIFY, socketActivate, startReceiver } from '../../activation/activate.ts';
import { connectClient, within } from '../../helpers/net.ts';
import { httpRequest, parseSamples, total } from '../../observability/scrape.ts';
import { CliProcess, MAIN, NODE_FLAGS, hasProgram, parseListening, startCli } from '../cli-process.ts';
import { tcpExchange } from '../clients.ts';

const NODE = process.execPath;
const PRINT_ENV = `console.log(['TCPREMOTEIP','TCPREMOTEPORT','PROXYREMOTEIP'].map((k) => process.env[k] ?? '-').join(' '));`;
const CLIENT = { address: '198.51.100.7', port: 40_001 };
const FRONT = { address: '192.0.2.80', port: 443 };

async function configFile(t: TestContext, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-up-features-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'switchboard.toml');
  await writeFile(file, text);
  return file;
}

/** Rewrites the file and sends SIGHUP; resolves with the lines of that reload. */
async function reload(cli: { stdout: CliProcess['stdout']; stderr: CliProcess['stderr']; child: CliProcess['child'] }, file: string, text: string): Promise<string[]> {
  await writeFile(file, text);
  const fromOut = cli.stdout.lines.length;
  const fromErr = cli.stderr.lines.length;
  cli.child.kill('SIGHUP');
  await within(cli.stdout.waitFor(/^reloaded /, 'reloaded', undefined, fromOut), 'the reload');
  return [...cli.stdout.lines.slice(fromOut), ...cli.stderr.lines.slice(fromErr)];
}

/** What the exec'd program printed for one connection that sends `header` first. */
async function printedEnv(t: TestContext, port: number, header?: Buffer): Promise<{ printed: string; balancerPort: number }> {
  const client = await connectClient(t, port);
  const balancerPort = client.socket.localPort!;
  if (header) client.send(header);
  await within(client.closed, 'the program to finish');
  return { printed: client.received.toString().trim(), balancerPort };
}

describe('switchboard up: proxy-protocol', () => {
  it('gives the program the client a PROXY header names; a reload of the trust hands the sockets over', async (t) => {
    const service = (keys: string) => `[services.env]\nprogram = ${JSON.stringify(NODE)}\nargs = ["-e", ${JSON.stringify(PRINT_ENV)}]\nlisten = ["127.0.0.1:0"]\n${keys}`;
    const text = service('proxy-protocol = ["127.0.0.1/32", "::1"]\n');
    const file = await configFile(t, text);
    const cli = startCli(t, ['up', file]);
    const [listening] = await cli.listening(1);
    await cli.stdout.waitFor(/^up: /, 'the up line');

    const relayed = await printedEnv(t, listening!.port, encodeProxyHeader({ version: 2, source: CLIENT, destination: FRONT }));
    assert.equal(relayed.printed, `${CLIENT.address} ${CLIENT.port} 127.0.0.1`);

    // Trust moves elsewhere and untrusted peers are served direct: the same port, a new server.
    const lines = await reload(cli, file, service('proxy-protocol = ["198.18.0.1"]\nproxy-untrusted = "direct"\n'));
    assert.ok(lines.some((line) => /^reload: env: proxy-protocol changed: replaced \(the listening sockets handed over; /.test(line)), lines.join('\n'));
    const direct = await printedEnv(t, listening!.port);
    assert.equal(direct.printed, `127.0.0.1 ${direct.balancerPort} -`);
    assert.equal((await cli.stop()).code, 0);
  });
});

describe('switchboard up: [global] metrics', () => {
  it('serves /metrics over every service; a service removed leaves it and one added joins it on reload', async (t) => {
    const services = (second: string) => `[global]\nmetrics = "127.0.0.1:0"\n\n[services.echo]\nbuiltin = "echo"\ntransports = ["tcp"]\nlisten = ["127.0.0.1:0"]\n\n[services.${second}]\nprogram = "cat"\nlisten = ["127.0.0.1:0"]\n`;
    const file = await configFile(t, services('cat'));
    const cli = startCli(t, ['up', file]);
    await cli.listening(2);
    const line = await cli.stdout.waitFor(/^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/, 'the metrics line');
    const metricsPort = Number(/:(\d+)\/metrics/.exec(line)![1]);
    await cli.stdout.waitFor(/^up: /, 'the up line');
    const scrape = async (): Promise<Map<string, number>> => {
      const response = await httpRequest(metricsPort, '/metrics');
      assert.equal(response.status, 200);
      return parseSamples(response.body);
    };
    const before = await scrape();
    assert.equal(total(before, 'switchboard_listeners', { service: 'echo' }), 1);
    assert.equal(total(before, 'switchboard_listeners', { service: 'cat' }), 1);

    const lines = await reload(cli, file, services('tac'));
    assert.ok(lines.some((entry) => entry === 'reload: tac: added'), lines.join('\n'));
    const after = await scrape();
    assert.equal(total(after, 'switchboard_listeners', { service: 'tac' }), 1);
    assert.equal(total(after, 'switchboard_listeners', { service: 'cat' }), 0, 'the removed service left the registry');
    assert.equal(total(after, 'switchboard_listeners', { service: 'echo' }), 1);
    assert.equal((await httpRequest(metricsPort, '/readyz')).status, 200);
    assert.equal((await cli.stop()).code, 0);
  });
});

const SWITCHBOARD = [process.execPath, ...NODE_FLAGS, MAIN];

describe('switchboard up under systemd-socket-activate', { skip: !HAS_SOCKET_ACTIVATE && 'systemd-socket-activate is not installed (Debian package systemd)' }, () => {
  it('serves listen = ["systemd:echo"] on the passed fd, keeps it across a hand-over, and refuses a rebind of it', async (t) => {
    // echo has tcp and udp, but only a stream fd is passed: TCP on it, no UDP server.
    const text = `[services.echo]\nbuiltin = "echo"\nlisten = ["systemd:echo"]\nidle-timeout = "1m"\n\n[services.cat]\nprogram = "cat"\nlisten = ["127.0.0.1:0"]\n`;
    const file = await configFile(t, text);
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, '--fdname=echo', ...SWITCHBOARD, 'up', file]);
    assert.equal((await tcpExchange(t, '127.0.0.1', port, 'first\n', { ms: 20_000 })).toString(), 'first\n');
    const listening = (await activated.stdout.waitForCount(/^listening /, 2, 'listening lines')).map(parseListening);
    assert.deepEqual(listening.find((entry) => entry.name === 'echo'), { transport: 'tcp', host: '127.0.0.1', port, name: 'echo', passed: 'fd 3 "echo"' });
    await activated.stdout.waitFor(/^up: /, 'the up line');

    const handedOver = await reload(activated, file, text.replace('"1m"', '"30s"'));
    assert.ok(handedOver.some((line) => /^reload: echo: idle-timeout changed: replaced \(the listening sockets handed over;/.test(line)), handedOver.join('\n'));
    assert.equal((await tcpExchange(t, '127.0.0.1', port, 'second\n')).toString(), 'second\n');

    const refused = await reload(activated, file, text.replace('listen = ["systemd:echo"]', 'listen = ["systemd:echo", "127.0.0.1:0"]'));
    assert.ok(refused.some((line) => /reload: echo: listen changed, but it serves passed sockets \(systemd:NAME\).*keeps running unchanged/.test(line)), refused.join('\n'));
    assert.equal((await tcpExchange(t, '127.0.0.1', port, 'third\n')).toString(), 'third\n');

    activated.child.kill('SIGTERM');
    assert.deepEqual(await activated.exit(), { code: 0, signal: null });
  });

  it('fails the start (exit 1) naming the key when no passed fd has the name', async (t) => {
    const file = await configFile(t, `[services.web]\nprogram = "cat"\nlisten = ["systemd:web"]\n`);
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, '--fdname=other', ...SWITCHBOARD, 'up', file]);
    const client = await connectClient(t, port);
    await activated.stderr.waitFor(/services\.web\.listen systemd:web: no passed fd is named "web" \(the names are: other\)/, 'the start failure', 15_000);
    assert.deepEqual(await activated.exit(), { code: 1, signal: null });
    await client.close();
  });
});

const HAS_PYTHON = hasProgram('python3');

describe('switchboard up and sd_notify', { skip: (!HAS_PYTHON && 'python3 is not installed') || (!HAS_SYSTEMD_NOTIFY && 'systemd-notify is not installed (Debian package systemd)') }, () => {
  it('sends READY=1 once every service is bound, RELOADING=1 … READY=1 around a reload, STOPPING=1 on SIGTERM', async (t) => {
    const receiver = await startReceiver(t);
    const text = `[services.echo]\nbuiltin = "echo"\ntransports = ["tcp"]\nlisten = ["127.0.0.1:0"]\n`;
    const file = await configFile(t, text);
    const cli = startCli(t, ['up', file], { NOTIFY_SOCKET: receiver.path });
    await cli.listening(1);
    const [ready] = await receiver.waitFor(/READY=1/);
    assert.equal(ready!.message, 'READY=1\nSTATUS=serving 1 address(es), 0 session(s) open');
    await reload(cli, file, text.replace('listen =', 'max-clients = 5\nlisten ='));
    const [reloading] = await receiver.waitFor(/RELOADING=1/);
    const [, again] = await receiver.waitFor(/READY=1/, 2);
    assert.ok(reloading!.t < again!.t, 'RELOADING=1 before the second READY=1');
    cli.signal('SIGTERM');
    await receiver.waitFor(/STOPPING=1/);
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
  });
});
