import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connectClient, within, type TestClient } from '../helpers/net.ts';

const fixture = fileURLToPath(new URL('./fixtures/emfile-server.ts', import.meta.url));
const DESCRIPTOR_LIMIT = 64;

interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

/** Whether a client gets its echo back (served) or is closed without one (refused). */
async function tryEcho(client: TestClient): Promise<boolean> {
  client.send('ping');
  await client.waitForBytes(4);
  return client.received.toString() === 'ping';
}

describe('TcpServer', () => {
  describe('out of file descriptors on accept', () => {
    it('warns, keeps serving open sessions, and accepts again once descriptors free up', { skip: !existsSync('/usr/bin/prlimit') && 'prlimit is not installed' }, async (t) => {
      const child = spawn('prlimit', [`--nofile=${DESCRIPTOR_LIMIT}:${DESCRIPTOR_LIMIT}`, process.execPath, fixture], { stdio: ['pipe', 'pipe', 'inherit'] });
      t.after(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      const events: ChildEvent[] = [];
      const waiters: (() => void)[] = [];
      createInterface({ input: child.stdout! }).on('line', (line) => {
        events.push(JSON.parse(line) as ChildEvent);
        for (const wake of waiters.splice(0)) wake();
      });
      const waitForEvent = (name: string, ms?: number): Promise<ChildEvent> =>
        within(
          new Promise<ChildEvent>((resolve) => {
            const check = (): void => {
              const found = events.find((event) => event.event === name);
              if (found) resolve(found);
              else waiters.push(check);
            };
            check();
          }),
          `the server's '${name}' event`,
          ms,
        );

      const { port } = (await waitForEvent('listening', 20_000)) as ChildEvent & { port: number };
      const served: TestClient[] = [];
      let refused = 0;
      // Each served session holds one descriptor; the limit is reached well within this bound.
      for (let attempt = 0; attempt < DESCRIPTOR_LIMIT && refused === 0; attempt++) {
        const client = await connectClient(t, port);
        if (await tryEcho(client)) served.push(client);
        else refused++;
      }
      assert.equal(refused, 1, 'a connection was refused once descriptors ran out');
      assert.ok(served.length > 10 && served.length < DESCRIPTOR_LIMIT, `served ${served.length} sessions before running out`);
      const warning = await waitForEvent('warning');
      assert.equal(warning.code, 'SWB_ERR_SOCKET');
      assert.equal(warning.syscallCode, 'EMFILE');
      assert.match(String(warning.message), /^accept tcp 127\.0\.0\.1:\d+: the process is out of file descriptors: new connections are reset until descriptors free up \(EMFILE\)$/);
      assert.equal(events.filter((event) => event.event === 'error').length, 0, 'EMFILE is a warning, not an error');

      // Sessions already open are served as before.
      for (const client of served.slice(0, 5)) {
        client.send('again');
        await client.waitForText('pingagain');
      }

      // Free a few descriptors: new connections are accepted again.
      const leaving = served.splice(0, 4);
      for (const client of leaving) await client.close();
      let accepted = false;
      for (let attempt = 0; attempt < 20 && !accepted; attempt++) {
        const client = await connectClient(t, port);
        accepted = await tryEcho(client);
        if (accepted) served.push(client);
      }
      assert.ok(accepted, 'a connection was accepted after descriptors were freed');

      for (const client of served) await client.close();
      await waitForEvent('empty');
      child.stdin!.end();
      const closed = (await waitForEvent('closed')) as ChildEvent & { stats: { accepted: number; closed: number; sessions: number } };
      assert.equal(closed.stats.sessions, 0);
      assert.equal(closed.stats.accepted, closed.stats.closed);
      await within(new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve))), 'the server process to exit');
      assert.equal(child.exitCode, 0);
    });
  });
});
