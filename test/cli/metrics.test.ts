/**
 * `--metrics ADDRESS` on the serving commands: a scrape of a running `serve` passes promtool and
 * its label names and values agree with the `--json` log records; `/readyz` answers 503 from the
 * start of a drain, before the servers are told to close; a bad address is a usage error.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { TcpServer } from '../../src/index.ts';
import { withMetrics } from '../../src/cli/metrics-flags.ts';
import { Logger } from '../../src/cli/logger.ts';
import { ServerSet } from '../../src/cli/server-set.ts';
import { parseListenAddress } from '../../src/cli/listen-address.ts';
import { connectClient, until, within } from '../helpers/net.ts';
import { httpRequest, parseSamples, promtoolCheck, total } from '../observability/scrape.ts';
import { runCliToExit, startCli } from './cli-process.ts';

/** The JSON records printed so far. */
function records(lines: readonly string[]): Record<string, unknown>[] {
  return lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('switchboard --metrics', () => {
  it('serves a scrape promtool accepts, whose labels agree with the --json log records', async (t) => {
    const cli = startCli(t, ['serve', 'echo', '--json', '--listen', '127.0.0.1:0', '--max-clients', '1', '--metrics', '127.0.0.1:0']);
    await cli.stdout.waitForCount(/"event":"listening"/, 2, 'JSON listening lines');
    const [metricsRecord] = records(cli.stdout.lines).filter((record) => record.event === 'metrics-listening');
    assert.ok(metricsRecord, cli.stdout.text);
    const metricsPort = metricsRecord.port as number;
    const listening = records(cli.stdout.lines).filter((record) => record.event === 'listening');
    const tcp = listening.find((record) => record.transport === 'tcp')!;
    // One session held, so the second connection is refused (max-clients 1) and logged.
    const held = await connectClient(t, tcp.port as number);
    held.send('x');
    await held.waitForBytes(1);
    const refused = connect(tcp.port as number, '127.0.0.1');
    refused.on('error', () => {});
    refused.resume();
    await within(new Promise((resolve) => refused.once('close', resolve)), 'the refused connection to close');
    await cli.stderr.waitFor(/"event":"refused"/, 'the refusal record');
    const refusal = records(cli.stderr.lines).find((record) => record.event === 'refused')!;

    const scrape = await httpRequest(metricsPort, '/metrics');
    assert.equal(scrape.status, 200);
    const verdict = promtoolCheck(scrape.body);
    if (verdict === undefined) t.diagnostic('SKIPPED promtool: not installed (Debian package prometheus)');
    else assert.equal(verdict.status, 0, verdict.output);
    const samples = parseSamples(scrape.body);
    for (const record of listening) {
      const labels = { service: String(record.service), transport: String(record.transport), listener: String(record.listener) };
      assert.equal(total(samples, 'switchboard_listeners', labels), 1, `a series labelled as the log record ${JSON.stringify(labels)}`);
    }
    assert.equal(total(samples, 'switchboard_connections_rejected_total', { service: String(refusal.service), reason: String(refusal.reason) }), 1);
    assert.equal(total(samples, 'switchboard_sessions_active', { service: 'echo' }), 1);
    await held.close();
    assert.equal((await cli.stop()).code, 0);
  });

  it('answers /readyz 503 while a drain waits on a session, then closes with the servers', async (t) => {
    const cli = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0', '--metrics', ':0', '--drain-timeout', '20s']);
    const [echo] = await cli.listening(2);
    const line = await cli.stdout.waitFor(/^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/, 'the metrics line');
    const metricsPort = Number(/:(\d+)\/metrics/.exec(line)![1]);
    assert.equal((await httpRequest(metricsPort, '/readyz')).status, 200);
    // Half-open allowed: the server's FIN (the drain) does not end our side, so the drain waits for it.
    const session = await connectClient(t, echo!.port, '127.0.0.1', { allowHalfOpen: true });
    session.send('x');
    await session.waitForBytes(1);
    cli.signal('SIGTERM');
    await cli.stdout.waitFor(/^closing on SIGTERM/, 'the closing line');
    const draining = await httpRequest(metricsPort, '/readyz');
    assert.equal(draining.status, 503);
    assert.match(draining.body, /not ready: draining/);
    // The session ends; the drain completes and the metrics port goes with the servers.
    session.socket.end();
    assert.equal((await cli.exit()).code, 0);
    await assert.rejects(httpRequest(metricsPort, '/readyz'), { code: 'ECONNREFUSED' });
  });

  it('turns /readyz 503 before the servers are told to close', async (t) => {
    const server = new TcpServer({ host: '127.0.0.1', port: 0 }, { data() {} });
    t.after(() => server.destroy());
    await server.listen();
    const fields: Record<string, unknown>[] = [];
    const log = Object.assign(Object.create(Logger.prototype) as Logger, { info: (_event: string, _msg: string, extra: Record<string, unknown>) => void fields.push(extra) });
    const servers = new ServerSet([{ name: 'echo', tcp: server, udp: undefined }]);
    let atClose: { status: number; state: string } | undefined;
    const hooks = withMetrics(parseListenAddress('127.0.0.1:0', '--metrics'), log, {
      stoppable: (set) => ({
        close: async (timeout) => {
          atClose = { status: (await httpRequest(fields[0]!.port as number, '/readyz')).status, state: server.state };
          await set.close(timeout);
        },
        destroy: () => set.destroy(),
      }),
    });
    await hooks.ready!(servers.endpoints);
    const port = fields[0]!.port as number;
    assert.equal((await httpRequest(port, '/readyz')).status, 200);
    await hooks.stoppable!(servers).close(1000);
    assert.deepEqual(atClose, { status: 503, state: 'listening' });
    await until(() => server.state === 'closed', 'the server to close');
  });

  it('is on exec too: every listener in the scrape, ready until SIGTERM', async (t) => {
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--', 'cat']);
    const [listening] = await cli.listening(1);
    const line = await cli.stdout.waitFor(/^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics/, 'the metrics line');
    const metricsPort = Number(/:(\d+)\/metrics/.exec(line)![1]);
    assert.equal((await httpRequest(metricsPort, '/readyz')).status, 200);
    const samples = parseSamples((await httpRequest(metricsPort, '/metrics')).body);
    assert.equal(total(samples, 'switchboard_listeners', { transport: 'tcp', listener: `127.0.0.1:${listening!.port}` }), 1);
    assert.equal((await cli.stop()).code, 0);
  });

  it('refuses a malformed address as a usage error', async (t) => {
    const result = await runCliToExit(t, ['serve', 'echo', '--listen', '127.0.0.1:0', '--metrics', 'nowhere']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--metrics "nowhere": expected HOST:PORT/);
  });
});
