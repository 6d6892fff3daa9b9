/**
 * `switchboard run --workers` with the features that used to be refused: TLS (every worker
 * shares the ticket keys, so a session resumes on any worker), the metrics endpoint (one scrape,
 * the sum over the workers, or per worker on request), the PROXY protocol. Passed sockets:
 * cli-workers-activation.test.ts.
 */
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startCli } from '../cli/cli-process.ts';
import { createTestCertificates } from '../helpers/certs.ts';
import { TestClient } from '../helpers/net.ts';
import { tlsGreeting } from './tls-greeting.ts';
import { httpRequest, parseSamples, promtoolCheck, total } from '../observability/scrape.ts';

const PID_ECHO = fileURLToPath(new URL('./fixtures/pid-echo.ts', import.meta.url));
const PEER_ECHO = fileURLToPath(new URL('./fixtures/peer-echo.ts', import.meta.url));

/** Starts `run MODULE --workers 2 …` and waits for its listening and workers lines: the port and the pids, by slot. */
async function startWorkers(t: import('node:test').TestContext, module: string, extra: readonly string[]) {
  const cli = startCli(t, ['run', module, '--workers', '2', '--listen', '127.0.0.1:0', '--drain-timeout', '1s', ...extra]);
  const [listening] = await cli.listening(1, 20_000);
  const line = await cli.stdout.waitFor(/^2 workers \(mode (reuseport|cluster)\): pids \d+ \d+$/, 'the workers line', 20_000);
  const pids = line.replace(/.*pids /, '').split(' ').map(Number);
  return { cli, port: listening!.port, pids };
}

/** The first line a connection receives (the socket is left open). */
async function firstLine(socket: Socket): Promise<string> {
  const text = await new TestClient(socket).waitForText('\n');
  if (!text.includes('\n')) throw new Error(`closed before a line (got ${JSON.stringify(text)})`);
  return text.slice(0, text.indexOf('\n'));
}

describe('switchboard run --workers --tls-cert', () => {
  it('serves TLS from every worker, and a session resumes on whichever worker answers (shared ticket keys)', async (t) => {
    const certs = await createTestCertificates(t);
    const { cli, pids } = await startWorkers(t, PID_ECHO, ['--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath]);
    const port = (await cli.listening(1))[0]!.port;
    const first = await tlsGreeting(port, certs.ca.cert);
    assert.ok(pids.includes(first.pid), `greeted by a worker (${first.pid}, workers ${pids.join(' ')})`);
    assert.equal(first.reused, false);
    assert.ok(first.session, 'a session ticket');
    // The kernel picks the worker: resume the one ticket until both workers have resumed it.
    const resumedBy = new Map<number, number>();
    for (let attempt = 0; attempt < 60 && resumedBy.size < 2; attempt++) {
      const next = await tlsGreeting(port, certs.ca.cert, first.session);
      assert.equal(next.reused, true, `attempt ${attempt}: pid ${next.pid} did not resume the session issued by pid ${first.pid}`);
      resumedBy.set(next.pid, (resumedBy.get(next.pid) ?? 0) + 1);
    }
    assert.deepEqual([...resumedBy.keys()].sort(), [...pids].sort(), `both workers resumed it: ${JSON.stringify([...resumedBy])}`);
    assert.deepEqual(await cli.stop(10_000), { code: 0, signal: null });
  });

  it('re-reads the TLS files in every worker on SIGHUP', async (t) => {
    const certs = await createTestCertificates(t);
    const cert = join(certs.dir, 'live.pem');
    const key = join(certs.dir, 'live.key');
    await copyFile(certs.server.certPath, cert);
    await copyFile(certs.server.keyPath, key);
    const { cli, port, pids } = await startWorkers(t, PID_ECHO, ['--tls-cert', cert, '--tls-key', key]);
    /** The certificate's CN, and the pid that greeted. */
    const subject = async (): Promise<[string, number]> => {
      const socket = connectTls({ host: '127.0.0.1', port, ca: certs.ca.cert, checkServerIdentity: () => undefined });
      try {
        const line = await new TestClient(socket).waitForText('\n');
        return [String(socket.getPeerCertificate().subject.CN), Number(/^pid (\d+)/.exec(line)?.[1])];
      } finally {
        socket.destroy();
      }
    };
    assert.equal((await subject())[0], 'localhost');
    await copyFile(certs.a.certPath, cert);
    await copyFile(certs.a.keyPath, key);
    cli.signal('SIGHUP');
    await cli.stdout.waitFor(/^SIGHUP: TLS certificates re-read from .* by 2 worker\(s\)$/, 'the reload line', 10_000);
    const seen = new Set<number>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const [cn, pid] = await subject();
      assert.equal(cn, 'a.test', `connection ${i} (pid ${pid})`);
      seen.add(pid);
    }
    assert.deepEqual([...seen].sort(), [...pids].sort(), 'both workers serve the new certificate');
    assert.deepEqual(await cli.stop(10_000), { code: 0, signal: null });
  });

  it('refuses a TLS file that cannot be read with a usage error naming the flag, before any worker starts', async (t) => {
    const cli = startCli(t, ['run', PID_ECHO, '--workers', '2', '--listen', '127.0.0.1:0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem']);
    const exit = await cli.exit(20_000);
    assert.equal(exit.code, 2, cli.stderr.text);
    assert.match(cli.stderr.text, /--tls-cert "\/nonexistent\/cert\.pem": no such file/);
  });
});

describe('switchboard run --workers --metrics', () => {
  it('serves one scrape that is the sum over the workers (promtool-clean), per worker with --metrics-per-worker', async (t) => {
    const { cli, port, pids } = await startWorkers(t, PID_ECHO, ['--metrics', '127.0.0.1:0', '--metrics-per-worker']);
    const metricsLine = await cli.stdout.waitFor(/^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/, 'the metrics line');
    const metricsPort = Number(/127\.0\.0\.1:(\d+)/.exec(metricsLine)![1]);
    const served = new Map<number, number>();
    for (let i = 0; i < 24; i++) {
      const socket = connectTcp(port, '127.0.0.1');
      const line = await firstLine(socket);
      socket.destroy();
      const pid = Number(/^pid (\d+)/.exec(line)?.[1]);
      served.set(pid, (served.get(pid) ?? 0) + 1);
    }
    const scrape = await httpRequest(metricsPort, '/metrics');
    assert.equal(scrape.status, 200);
    const check = promtoolCheck(scrape.body);
    if (check) assert.equal(check.status, 0, check.output);
    const samples = parseSamples(scrape.body);
    assert.equal(total(samples, 'switchboard_sessions_opened_total'), 24, scrape.body);
    pids.forEach((pid, slot) => assert.equal(total(samples, 'switchboard_sessions_opened_total', { worker: String(slot) }), served.get(pid) ?? 0, `worker ${slot} (pid ${pid})`));
    assert.match(scrape.body, /switchboard_ready\{service="pid-echo",transport="tcp",listener="127\.0\.0\.1:\d+",worker="1"\} 1/);
    const status = JSON.parse((await httpRequest(metricsPort, '/status.json')).body) as { servers: { worker?: string }[] };
    assert.deepEqual(status.servers.map((server) => server.worker), ['0', '1']);
    assert.deepEqual(await cli.stop(10_000), { code: 0, signal: null });
  });

  it('keeps the summed counters monotonic across a worker killed and respawned', async (t) => {
    const { cli, port, pids } = await startWorkers(t, PID_ECHO, ['--metrics', '127.0.0.1:0']);
    const metricsLine = await cli.stdout.waitFor(/^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/, 'the metrics line');
    const metricsPort = Number(/127\.0\.0\.1:(\d+)/.exec(metricsLine)![1]);
    const opened = async (): Promise<number> => total(parseSamples((await httpRequest(metricsPort, '/metrics')).body), 'switchboard_sessions_opened_total');
    let onVictim = 0;
    for (let i = 0; i < 16; i++) {
      const socket = connectTcp(port, '127.0.0.1');
      if ((await firstLine(socket)) === `pid ${pids[0]}`) onVictim++;
      socket.destroy();
    }
    assert.ok(onVictim > 0, 'the worker to kill served some of them');
    // A scrape asks every worker for its ledger: the primary now holds the victim's, which it keeps contributing.
    assert.equal(await opened(), 16);
    process.kill(pids[0]!, 'SIGKILL');
    await cli.stderr.waitFor(new RegExp(`worker 0 \\(pid ${pids[0]}\\) exited`), 'the respawn line', 10_000);
    assert.equal(await opened(), 16, `after the kill (the victim had served ${onVictim})`);
    assert.deepEqual(await cli.stop(10_000), { code: 0, signal: null });
  });
});

describe('switchboard run --workers --proxy-protocol', () => {
  it('reads the PROXY header on every worker: the session sees the client it names', async (t) => {
    const { cli, port, pids } = await startWorkers(t, PEER_ECHO, ['--proxy-protocol', '127.0.0.1']);
    const seen = new Set<number>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const socket = connectTcp(port, '127.0.0.1');
      socket.write(`PROXY TCP4 198.18.0.${i + 1} 198.18.1.1 40000 7000\r\n`);
      const line = await firstLine(socket);
      socket.destroy();
      const match = /^pid (\d+) peer (\S+)$/.exec(line);
      assert.equal(match?.[2], `198.18.0.${i + 1}:40000`, line);
      seen.add(Number(match[1]));
    }
    assert.deepEqual([...seen].sort(), [...pids].sort(), 'both workers read a header');
    assert.deepEqual(await cli.stop(10_000), { code: 0, signal: null });
  });
});
