import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SwitchboardError } from '../../src/index.ts';
import { assertNoLeakedHandles, deferred, listenLocal, openNetworkHandles, within } from '../helpers/net.ts';

const fixture = fileURLToPath(new URL('./fixtures/idle-clients.ts', import.meta.url));
const SESSIONS = 10_000;

describe('TcpServer', () => {
  it(`holds ${SESSIONS} concurrent idle sessions with no error, then closes every one exactly once`, { timeout: 90_000 }, async (t) => {
    const before = openNetworkHandles();
    const errors: SwitchboardError[] = [];
    const closesById = new Map<number, number>();
    const allOpen = deferred();
    const allClosed = deferred();
    let opened = 0;
    const server = await listenLocal(t, { backlog: 4096 }, {
      open() {
        if (++opened === SESSIONS) allOpen.resolve();
      },
      close(session) {
        closesById.set(session.id, (closesById.get(session.id) ?? 0) + 1);
        if (closesById.size === SESSIONS) allClosed.resolve();
      },
    });
    server.on('error', (error) => errors.push(error));
    server.on('warning', (warning) => errors.push(warning as SwitchboardError));
    const rssBefore = process.memoryUsage().rss;

    const child = spawn(process.execPath, [fixture, String(server.addresses[0]!.port), String(SESSIONS)], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const reports: Record<string, unknown>[] = [];
    const reported = new Map<string, PromiseWithResolvers<Record<string, unknown>>>();
    const report = (event: string): PromiseWithResolvers<Record<string, unknown>> => {
      if (!reported.has(event)) reported.set(event, deferred());
      return reported.get(event)!;
    };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      reports.push(event);
      report(String(event.event)).resolve(event);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const connected = await within(report('connected').promise, `${SESSIONS} client connections`, 60_000);
    assert.deepEqual(connected, { event: 'connected', connected: SESSIONS, errors: 0, closedEarly: 0 });
    await within(allOpen.promise, `${SESSIONS} sessions to open`, 30_000);
    const stats = server.stats();
    assert.equal(stats.sessions, SESSIONS);
    assert.equal(stats.rejected, 0);
    assert.deepEqual(errors, []);
    const perSession = (process.memoryUsage().rss - rssBefore) / SESSIONS;
    t.diagnostic(`server RSS grew ${Math.round(perSession)} bytes per idle session`);

    child.stdin!.end();
    const closing = await within(report('closing').promise, 'the clients to report before closing');
    assert.equal(closing.errors, 0, `client errors: ${JSON.stringify(closing.firstErrors)}`);
    assert.equal(closing.closedEarly, 0);
    await within(allClosed.promise, 'every session to close', 30_000);
    assert.equal(await within(exited, 'the client process to exit'), 0);
    assert.ok([...closesById.values()].every((count) => count === 1), 'every session closed exactly once');
    await within(server.close({ timeout: 1000 }), 'server close');
    const after = server.stats();
    assert.equal(after.accepted, SESSIONS);
    assert.equal(after.closed, SESSIONS);
    assert.deepEqual(errors, []);
    await assertNoLeakedHandles(before);
  });
});
