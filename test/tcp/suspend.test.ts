import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { RejectCause, TcpServer } from '../../src/index.ts';
import { listenLocal, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';
import { echo, refusedClient, servedClient } from './admission-helpers.ts';

describe('TcpServer', () => {
  describe('#suspend', () => {
    it('refuses new connections with the busy message, keeps the port bound and open sessions served', async (t) => {
      const server = await listenLocal(t, { busyMessage: '421 busy, try later\r\n' }, echo);
      const port = server.addresses[0]!.port;
      const existing = await servedClient(t, port);
      server.suspend();
      assert.equal(server.suspended, true);
      assert.equal(server.state, 'listening');
      const { rejection, received } = await refusedClient(t, server);
      assert.equal(rejection.cause, RejectCause.SUSPENDED);
      assert.equal(received, '421 busy, try later\r\n');
      existing.send('still served');
      await existing.waitForText('still served');
      // The port was never given up: another socket cannot take it.
      const intruder = createServer();
      const bindError = await within(
        new Promise<NodeJS.ErrnoException>((resolve) => {
          intruder.once('error', resolve);
          intruder.listen(port, '127.0.0.1', () => resolve(Object.assign(new Error('bound'), { code: 'BOUND' })));
        }),
        'the second bind to fail',
      );
      intruder.close();
      assert.equal(bindError.code, 'EADDRINUSE');
      server.resume();
      assert.equal(server.suspended, false);
      await servedClient(t, port);
      assert.equal(server.stats().sessions, 2);
    });

    it('can be suspended before it listens', async (t) => {
      const server = new TcpServer({ host: '127.0.0.1', port: 0 }, echo);
      t.after(() => server.destroy());
      server.suspend();
      await server.listen();
      assert.equal((await refusedClient(t, server)).rejection.cause, RejectCause.SUSPENDED);
      server.resume();
      await servedClient(t, server.addresses[0]!.port);
    });
  });

  describe('#setAccessRules', () => {
    it('applies allow and deny lists from the options, then as changed while running', async (t) => {
      const server = await listenLocal(t, { host: '0.0.0.0', deny: ['127.0.0.2'] }, echo);
      const port = server.addresses[0]!.port;
      const denied = await refusedClient(t, server, '127.0.0.2');
      assert.equal(denied.rejection.cause, RejectCause.DENIED);
      assert.equal(denied.rejection.info.remoteAddress, '127.0.0.2');
      const served = await servedClient(t, port, '127.0.0.3');

      assert.deepEqual(server.setAccessRules({ allow: ['127.0.0.0/30'], deny: null }), { allow: ['127.0.0.0/30'], deny: null });
      await servedClient(t, port, '127.0.0.2');
      assert.equal((await refusedClient(t, server, '127.0.0.4')).rejection.cause, RejectCause.NOT_ALLOWED);
      // Sessions already open are not affected by a new rule.
      served.send('kept');
      await served.waitForText('kept');
      assert.deepEqual(server.accessRules, { allow: ['127.0.0.0/30'], deny: null });
    });

    it('sends no busy message to a denied peer', async (t) => {
      const server = await listenLocal(t, { deny: ['127.0.0.1'], busyMessage: 'busy' }, echo);
      const { rejection, received } = await refusedClient(t, server);
      assert.equal(rejection.cause, RejectCause.DENIED);
      assert.equal(received, '');
    });
  });
});
