import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { ErrorCode, ListenError, TcpServer, listen, type LookupFunction } from '../../src/index.ts';
import { assertNoLeakedHandles, connectClient, deferred, listenLocal, openNetworkHandles, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

const run = promisify(execFile);

const echo = { data: (session: { write(chunk: Buffer): unknown }, chunk: Buffer) => void session.write(chunk) };

async function echoes(port: number, host: string): Promise<void> {
  const client = await connectClient(undefined, port, host);
  client.send(`hi ${host}`);
  assert.equal((await client.waitForBytes(3 + host.length)).toString(), `hi ${host}`);
  await client.close();
}

describe('TcpServer', () => {
  describe('#listen', () => {
    it('serves on 127.0.0.1 with a port chosen by the kernel', async (t) => {
      const server = await listenLocal(t, {}, echo);
      assert.equal(server.state, 'listening');
      const [bound] = server.addresses;
      assert.deepEqual({ ...bound, port: 0 }, { address: '127.0.0.1', port: 0, family: 'IPv4', transport: 'tcp' });
      assert.ok(bound!.port > 0);
      await echoes(bound!.port, '127.0.0.1');
    });

    it('serves on ::1', async (t) => {
      const server = await listenLocal(t, { host: '::1' }, echo);
      assert.deepEqual(server.addresses.map((a) => [a.address, a.family]), [['::1', 'IPv6']]);
      await echoes(server.addresses[0]!.port, '::1');
    });

    it('binds a group 127.0.0.1 + 127.0.0.2 + ::1 on one shared ephemeral port', async (t) => {
      const server = await listenLocal(t, { host: ['127.0.0.1', '127.0.0.2', '::1'] }, echo);
      const ports = new Set(server.addresses.map((a) => a.port));
      assert.equal(server.addresses.length, 3);
      assert.equal(ports.size, 1);
      const [port] = ports;
      for (const host of ['127.0.0.1', '127.0.0.2', '::1']) await echoes(port!, host);
      assert.equal(server.stats().listeners, 3);
    });

    it('accepts IPv4 clients on :: and reports them unmapped', async (t) => {
      const seen = deferred<[string, string, string]>();
      const server = await listenLocal(t, { host: '::' }, {
        open(session) {
          seen.resolve([session.remoteAddress, session.remoteFamily, session.localAddress]);
        },
      });
      assert.deepEqual(server.addresses.map((a) => a.address), ['::']);
      const client = await connectClient(t, server.addresses[0]!.port, '127.0.0.1');
      assert.deepEqual(await within(seen.promise, 'the session'), ['127.0.0.1', 'IPv4', '127.0.0.1']);
      await client.close();
    });

    it("binds '*' as two sockets, IPv4 any and IPv6-only any, on one port", async (t) => {
      const server = await listenLocal(t, { host: '*' }, echo);
      assert.deepEqual(server.addresses.map((a) => `${a.address}/${a.family}`), ['0.0.0.0/IPv4', '::/IPv6']);
      assert.equal(server.addresses[0]!.port, server.addresses[1]!.port);
      await echoes(server.addresses[0]!.port, '127.0.0.1');
      await echoes(server.addresses[0]!.port, '::1');
    });

    it("binds 'localhost' as both loopbacks", async (t) => {
      const server = await listenLocal(t, { host: 'localhost' }, echo);
      assert.deepEqual(server.addresses.map((a) => a.address), ['127.0.0.1', '::1']);
      await echoes(server.addresses[0]!.port, '127.0.0.1');
      await echoes(server.addresses[0]!.port, '::1');
    });

    it('binds every address a host name resolves to', async (t) => {
      const lookup: LookupFunction = async () => [
        { address: '127.0.0.3', family: 4 },
        { address: '::1', family: 6 },
      ];
      const server = await listenLocal(t, { host: 'service.test', lookup }, echo);
      assert.deepEqual(server.addresses.map((a) => a.address), ['127.0.0.3', '::1']);
      await echoes(server.addresses[0]!.port, '127.0.0.3');
    });

    it('listens on no host as IPv4 any only', async (t) => {
      const server = new TcpServer({ port: 0 }, echo);
      t.after(() => server.destroy());
      await server.listen();
      assert.deepEqual(server.addresses.map((a) => a.address), ['0.0.0.0']);
    });

    it('rolls back every bound socket when one address is in use, and names the failure', async (t) => {
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.2', resolve));
      t.after(() => blocker.close());
      const port = (blocker.address() as { port: number }).port;
      const before = openNetworkHandles();
      const server = new TcpServer({ host: ['127.0.0.1', '127.0.0.2', '::1'], port }, echo);
      const error = await server.listen().catch((e: unknown) => e);
      assert.ok(error instanceof ListenError);
      assert.equal(error.code, ErrorCode.ADDRESS_IN_USE);
      assert.equal(error.message, `listen tcp 127.0.0.2:${port}: address already in use (EADDRINUSE)`);
      assert.equal(error.failures.length, 1);
      assert.equal(server.state, 'idle');
      assert.deepEqual(server.addresses, []);
      await assertNoLeakedHandles(before);
      // The port is free again on the addresses that had been bound: a second server can take them.
      const again = await listenLocal(t, { host: ['127.0.0.1', '::1'], port }, echo);
      assert.equal(again.addresses.length, 2);
    });

    it('fails with a clear error on a privileged port without the capability', async () => {
      // As root, the child drops to `nobody` (and so every capability) after loading its modules,
      // so the kernel refuses port 1 as it would for a user, wherever the checkout is.
      const fixture = fileURLToPath(new URL('./fixtures/listen-report.ts', import.meta.url));
      const dropTo = process.getuid?.() === 0 ? ['65534'] : [];
      const { stdout } = await run(process.execPath, [fixture, '127.0.0.1', '1', ...dropTo], { timeout: 20_000 });
      const { uid, capabilities, ...result } = JSON.parse(stdout) as { uid?: number; capabilities?: string };
      assert.deepEqual(result, {
        code: ErrorCode.PERMISSION_DENIED,
        message: 'listen tcp 127.0.0.1:1: permission denied (EACCES)',
      });
      assert.notEqual(uid, 0, 'listened as a user other than root');
      if (capabilities !== undefined) assert.match(capabilities, /^0+$/, 'with no capability');
    });

    it('fails on an address this host does not have', async () => {
      // A bind attempt only: no packet is sent, and the documentation-range address is on no interface.
      await assert.rejects(listen({ host: '203.0.113.7', port: 0 }, echo), (e: unknown) => {
        assert.ok(e instanceof ListenError);
        assert.equal(e.code, ErrorCode.ADDRESS_NOT_AVAILABLE);
        assert.equal(e.message, 'listen tcp 203.0.113.7:0: address not available on this host (EADDRNOTAVAIL)');
        return true;
      });
    });

    it('rejects an unresolvable name', async () => {
      const lookup: LookupFunction = async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND nosuch.invalid'), { code: 'ENOTFOUND' });
      };
      await assert.rejects(listen({ host: 'nosuch.invalid', port: 7000, lookup }), {
        code: ErrorCode.NAME_NOT_RESOLVED,
        message: 'lookup tcp nosuch.invalid:7000: name not resolvable (ENOTFOUND)',
      });
    });

    it('refuses to listen twice, or after close', async (t) => {
      const server = await listenLocal(t, {}, echo);
      await assert.rejects(server.listen(), { code: ErrorCode.ALREADY_LISTENING });
      await server.close();
      await assert.rejects(server.listen(), { code: ErrorCode.SERVER_CLOSED, message: 'listen tcp: server is closed' });
    });

    it('gives the sockets back when closed while still binding', async () => {
      const before = openNetworkHandles();
      const server = new TcpServer({ host: '127.0.0.1' }, echo);
      const listening = server.listen();
      const closing = server.close();
      await assert.rejects(listening, { code: ErrorCode.SERVER_CLOSED });
      await within(closing, 'close');
      assert.equal(server.state, 'closed');
      await assertNoLeakedHandles(before);
    });

    it('shares the listening port across processes only with reusePort', async (t) => {
      const first = await listenLocal(t, { reusePort: true }, echo);
      const port = first.addresses[0]!.port;
      const second = await listenLocal(t, { reusePort: true, port }, echo);
      assert.equal(second.addresses[0]!.port, port);
      await assert.rejects(listen({ host: '127.0.0.1', port }, echo), { code: ErrorCode.ADDRESS_IN_USE });
    });
  });

  describe('constructor', () => {
    const cases: [string, object, string][] = [
      ['backlog', { backlog: -1 }, '`backlog` must be a non-negative integer, got -1'],
      ['port', { port: 70000 }, '`port` must be an integer from 0 to 65535, got 70000'],
      ['port type', { port: '80' }, '`port` must be an integer from 0 to 65535, got "80"'],
      ['idleTimeout', { idleTimeout: -5 }, '`idleTimeout` must be a non-negative number of milliseconds, got -5'],
      ['noDelay', { noDelay: 'yes' }, '`noDelay` must be a boolean, got "yes"'],
      ['exclusive with reusePort', { reusePort: true, exclusive: true }, '`exclusive` must not be true together with `reusePort`, which shares the address, got true'],
      ['signal', { signal: {} }, '`signal` must be an AbortSignal, got an object'],
      ['host', { host: ['127.0.0.1', 5] }, '`host` must be a string or a non-empty array of strings, got 5'],
    ];
    for (const [name, options, message] of cases) {
      it(`throws a named error for an invalid ${name}`, () => {
        assert.throws(() => new TcpServer(options as never), { name: 'InvalidOptionError', code: ErrorCode.INVALID_OPTION, message });
      });
    }
  });
});
