/**
 * The servers' `fds` option: sockets already open in the process, adopted by number (what a
 * worker and an upgrade's successor do with the sockets they are passed), checked at
 * construction, type-checked at listen(), and served as bound ones.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { BoundSocket, type AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TcpServer, UdpServer } from '../../src/index.ts';
import { openInetSockets } from '../../src/net/proc-sockets.ts';
import { connectClient, until } from '../helpers/net.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/serve-fds.ts', import.meta.url));

/** Starts the fixture with `fd` as its fd 3; resolves with what it printed. */
async function serveFd(t: TestContext, transport: 'tcp' | 'udp', fd: number): Promise<{ addresses?: { address: string; port: number; origin?: string; fd?: number }[]; error?: { code: string; message: string } }> {
  const child = spawn(process.execPath, [FIXTURE, transport], { stdio: ['ignore', 'pipe', 'inherit', fd] });
  t.after(() => child.kill('SIGKILL'));
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  await until(() => text.includes('\n'), 'the fixture to listen', 10_000);
  return JSON.parse(text) as never;
}

describe('the fds option', () => {
  describe('checked at construction', () => {
    const bad: [string, () => unknown, RegExp][] = [
      ['with host', () => new TcpServer({ fds: [3], host: '127.0.0.1' }), /^`fds` must not be given together with `host`/],
      ['with port', () => new UdpServer({ fds: [3], port: 53 }), /^`fds` must not be given together with `port`/],
      ['with systemd', () => new TcpServer({ fds: [3], systemd: true }), /^`fds` must not be given together with `systemd`/],
      ['an empty array', () => new TcpServer({ fds: [] }), /^`fds` must be a non-empty array of distinct fd numbers/],
      ['a negative fd', () => new UdpServer({ fds: [-1] }), /^`fds` must be a non-empty array of distinct fd numbers/],
      ['a repeated fd', () => new TcpServer({ fds: [4, 4] }), /^`fds` must be a non-empty array of distinct fd numbers/],
    ];
    for (const [title, build, message] of bad) {
      it(`refuses ${title} with SWB_ERR_INVALID_OPTION`, () => {
        assert.throws(build, { code: 'SWB_ERR_INVALID_OPTION', message });
      });
    }
  });

  describe('listen()', () => {
    it('rejects an fd that is not open with SWB_ERR_ACTIVATION_FD_TYPE', async () => {
      await assert.rejects(new TcpServer({ fds: [1_000_000] }).listen(), { code: 'SWB_ERR_ACTIVATION_FD_TYPE', message: /fd 1000000 .* is not open$/ });
    });

    it('rejects a UDP server given a TCP listener, before touching it', async (t) => {
      const bound = new BoundSocket({ host: '127.0.0.1', port: 0 });
      t.after(() => bound[Symbol.dispose]());
      await assert.rejects(new UdpServer({ fds: [bound.fd()] }).listen(), { code: 'SWB_ERR_ACTIVATION_FD_TYPE' });
    });

    it('serves a bound TCP socket passed as an fd (net.BoundSocket#fd()), reported with origin passed', async (t) => {
      const bound = new BoundSocket({ host: '127.0.0.1', port: 0 });
      const { port } = bound.address() as AddressInfo;
      const printed = await serveFd(t, 'tcp', bound.fd());
      bound.close(); // this process's copy: the child's keeps the socket
      assert.deepEqual(printed.addresses?.map(({ address, port: p, origin, fd }) => ({ address, port: p, origin, fd })), [{ address: '127.0.0.1', port, origin: 'passed', fd: 3 }]);
      const client = await connectClient(t, port);
      client.send('over the passed socket\n');
      assert.equal(await client.waitForText('over the passed socket\n'), 'over the passed socket\n');
    });

    it('serves a bound UDP socket passed as an fd', async (t) => {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      const { port } = socket.address();
      const fd = [...openInetSockets(['udp'])].find(([, found]) => found.details.port === port)?.[0];
      assert.ok(fd !== undefined, 'its fd, from /proc');
      const printed = serveFd(t, 'udp', fd);
      socket.close(); // in the tick of the spawn: from now on only the child reads it
      assert.equal((await printed).addresses?.[0]?.port, port);
      const client = createSocket('udp4');
      t.after(() => client.close());
      const reply = new Promise<string>((resolve) => client.once('message', (data) => resolve(data.toString())));
      client.send('ping over the passed socket', port, '127.0.0.1');
      assert.equal(await reply, 'ping over the passed socket');
    });
  });
});
