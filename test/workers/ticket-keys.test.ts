/**
 * The session-ticket keys a worker set shares: made and rotated by the primary, given to every
 * worker, and handed to the next process by an upgrade, so that a session resumes on any
 * worker of either.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { InvalidOptionError, TcpServer, listenTcp } from '../../src/index.ts';
import { TicketKeys, decodeTicketKeys, newTicketKeys } from '../../src/workers/ticket-keys.ts';
import { serveWorkers } from '../../src/workers/worker-set.ts';
import { startCli } from '../cli/cli-process.ts';
import { createTestCertificates } from '../helpers/certs.ts';
import { until, within } from '../helpers/net.ts';
import { processAlive as alive } from '../helpers/process-alive.ts';
import { httpRequest, parseSamples, total } from '../observability/scrape.ts';
import { tlsGreeting } from './tls-greeting.ts';

const PID_ECHO = fileURLToPath(new URL('./fixtures/pid-echo.ts', import.meta.url));

describe('TicketKeys', () => {
  it('keeps inherited keys until their rotation is due, and replaces stale or malformed ones', (t) => {
    const rotated: string[] = [];
    const inherited = newTicketKeys(1_000_000);
    const kept = new TicketKeys(60_000, (state) => rotated.push(state.keys), inherited, 1_030_000);
    t.after(() => kept.stop());
    assert.deepEqual(kept.state, inherited);
    const stale = new TicketKeys(60_000, () => {}, inherited, 1_070_000);
    t.after(() => stale.stop());
    assert.notEqual(stale.state.keys, inherited.keys);
    const malformed = new TicketKeys(60_000, () => {}, { keys: 'c2hvcnQ=', createdAt: 1_000_000 }, 1_000_001);
    t.after(() => malformed.stop());
    assert.equal(decodeTicketKeys(malformed.state)?.length, 48);
    const next = kept.rotate();
    assert.deepEqual(rotated, [next.keys]);
    assert.notEqual(next.keys, inherited.keys);
    assert.throws(() => new TicketKeys(10, () => {}), (error: unknown) => error instanceof InvalidOptionError && /ticketKeyRotation/.test(error.message));
  });

  it('a predecessor\'s keys that are malformed or past their rotation are replaced by new ones', () => {
    const old = newTicketKeys(0);
    for (const inherited of [{ keys: 'not base64 of 48 bytes', createdAt: 0 }, old]) {
      const keys = new TicketKeys(60_000, () => {}, inherited, 120_000);
      try {
        assert.notEqual(keys.state.keys, inherited.keys);
        assert.equal(keys.state.createdAt, 120_000);
      } finally {
        keys.stop();
      }
    }
  });
});

describe('TlsOptions.ticketKeys', () => {
  it('lets two servers resume each other\'s sessions, and refuses keys that are not 48 bytes', async (t) => {
    const certs = await createTestCertificates(t);
    const keys = randomBytes(48);
    const greeter = { open(session: { write(text: string): unknown }) { session.write(`pid ${process.pid}\n`); } };
    const a = await listenTcp({ host: '127.0.0.1', port: 0, tls: { key: certs.server.key, cert: certs.server.cert, ticketKeys: keys } }, greeter);
    const b = await listenTcp({ host: '127.0.0.1', port: 0, tls: { key: certs.server.key, cert: certs.server.cert, ticketKeys: keys } }, greeter);
    const c = await listenTcp({ host: '127.0.0.1', port: 0, tls: { key: certs.server.key, cert: certs.server.cert } }, greeter);
    t.after(() => Promise.all([a.destroy(), b.destroy(), c.destroy()]));
    const session = (await tlsGreeting(a.addresses[0]!.port, certs.ca.cert)).session!;
    assert.equal((await tlsGreeting(b.addresses[0]!.port, certs.ca.cert, session)).reused, true, 'the same keys: resumed');
    assert.equal((await tlsGreeting(c.addresses[0]!.port, certs.ca.cert, session)).reused, false, 'other keys: a full handshake');
    assert.throws(() => new TcpServer({ tls: { key: certs.server.key, cert: certs.server.cert, ticketKeys: Buffer.alloc(32) } }), (error: unknown) => error instanceof InvalidOptionError && /tls\.ticketKeys/.test(error.message) && /48 bytes/.test(error.message));
  });
});

describe('serveWorkers({ tls })', () => {
  it('rotates the keys on every worker: the old tickets stop resuming, the new ones resume on both workers', async (t) => {
    const certs = await createTestCertificates(t);
    const set = await within(serveWorkers({ module: PID_ECHO, workers: 2, tcp: { host: '127.0.0.1', port: 0 }, tls: { cert: certs.server.certPath, key: certs.server.keyPath } }), 'the workers', 20_000);
    t.after(() => set.destroy());
    const port = set.addresses[0]!.port;
    const pids = set.workers().map((worker) => worker.pid).sort();
    const before = (await tlsGreeting(port, certs.ca.cert)).session!;
    assert.equal((await tlsGreeting(port, certs.ca.cert, before)).reused, true);
    set.ticketKeys.rotate();
    // The new keys reach each worker over IPC: a ticket issued under them resumes on both workers once they have.
    let after: Buffer | undefined;
    const resumedBy = new Set<number>();
    for (let attempt = 0; attempt < 80 && resumedBy.size < 2; attempt++) {
      after ??= (await tlsGreeting(port, certs.ca.cert)).session;
      const next = await tlsGreeting(port, certs.ca.cert, after);
      if (next.reused) resumedBy.add(next.pid);
      else after = undefined; // issued by a worker still on the old keys, or refused by one on the new: take a fresh one
    }
    assert.deepEqual([...resumedBy].sort(), pids, 'a ticket under the new keys resumed on both workers');
    for (let i = 0; i < 6; i++) assert.equal((await tlsGreeting(port, certs.ca.cert, before)).reused, false, 'a ticket under the old keys no longer resumes');
  });
});

describe('switchboard run --workers --tls-cert, upgraded (SIGUSR2)', () => {
  it('hands the ticket keys to the new process: a session issued by the old workers resumes on the new ones', async (t) => {
    const certs = await createTestCertificates(t);
    const pidFile = join(mkdtempSync(join(tmpdir(), 'swb-ticket-upgrade-')), 'pid');
    // With a metrics endpoint on a fixed port too: the new process binds it once the old one lets go.
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const metricsPort = (free.address() as AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const cli = startCli(t, ['run', PID_ECHO, '--workers', '2', '--listen', '127.0.0.1:0', '--pid-file', pidFile, '--drain-timeout', '1s', '--tls-cert', certs.server.certPath, '--tls-key', certs.server.keyPath, '--metrics', `127.0.0.1:${metricsPort}`]);
    const [listening] = await cli.listening(1, 20_000);
    const line = await cli.stdout.waitFor(/^2 workers \(mode reuseport\): pids \d+ \d+$/, 'the workers line', 20_000);
    const oldPids = line.replace(/.*pids /, '').split(' ').map(Number);
    await until(() => existsSync(pidFile), 'the pid file', 5_000);
    const session = (await tlsGreeting(listening!.port, certs.ca.cert)).session!;
    const from = cli.stdout.lines.length;
    cli.signal('SIGUSR2');
    const newLine = await cli.stdout.waitFor(/^2 workers \(mode reuseport\): pids \d+ \d+$/, "the new version's workers line", 30_000, from);
    const newPids = newLine.replace(/.*pids /, '').split(' ').map(Number);
    await until(() => readFileSync(pidFile, 'utf8').trim() !== String(cli.child.pid), 'the new pid in the pid file', 20_000);
    await until(() => oldPids.every((pid) => !alive(pid)), 'the old workers to be gone', 10_000);
    const successor = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      const resumed = await tlsGreeting(listening!.port, certs.ca.cert, session);
      assert.ok(newPids.includes(resumed.pid), `served by a new worker (${resumed.pid})`);
      assert.equal(resumed.reused, true, 'the old session resumed on the new version');
      // The new version's endpoint: its counters continue from the old version's totals (1 session, 1 handshake) plus the resumed one.
      await cli.stdout.waitFor(new RegExp(`^metrics on http://127\\.0\\.0\\.1:${metricsPort}/metrics`), "the new version's metrics line", 10_000, from);
      const samples = parseSamples((await httpRequest(metricsPort, '/metrics')).body);
      assert.equal(total(samples, 'switchboard_sessions_opened_total'), 2);
      assert.equal(total(samples, 'switchboard_tls_handshakes_total'), 2);
    } finally {
      // The successor (not our child) holds the test's output pipes: it and its workers go whatever happened.
      process.kill(successor, 'SIGTERM');
      await until(() => !alive(successor) && newPids.every((pid) => !alive(pid)), 'the new version to stop', 10_000).catch(() => {
        for (const pid of [successor, ...newPids]) if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
    }
  });
});
