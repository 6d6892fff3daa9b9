import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { CloseCause, ErrorCode, type CloseReason, type TcpEventHandler } from '../../src/index.ts';
import { DescriptorWatch } from '../../src/tcp/descriptor-watch.ts';
import { PeriodicSweep, sweepPeriodFor } from '../../src/server/periodic-sweep.ts';
import { connectClient, deferred, listenLocal, within } from '../helpers/net.ts';

/** Echo, and a promise of each session's close reason, by the client's port. */
function recordingEcho(): { handler: TcpEventHandler; closeOf(port: number): Promise<CloseReason> } {
  const closes = new Map<number, PromiseWithResolvers<CloseReason>>();
  const entry = (port: number): PromiseWithResolvers<CloseReason> => {
    let found = closes.get(port);
    if (!found) closes.set(port, (found = deferred<CloseReason>()));
    return found;
  };
  return {
    closeOf: (port) => entry(port).promise,
    handler: {
      data: (session, chunk) => void session.write(chunk),
      close: (session, reason) => entry(session.remotePort).resolve(reason),
    },
  };
}

describe('TcpSession', () => {
  describe('firstByteTimeout', () => {
    it('closes a session that sends nothing in time, and keeps one that spoke', async (t) => {
      const { handler, closeOf } = recordingEcho();
      const server = await listenLocal(t, { firstByteTimeout: 150 }, handler);
      const port = server.addresses[0]!.port;
      const talker = await connectClient(t, port);
      talker.send('hi');
      await talker.waitForBytes(2);
      const opened = performance.now();
      const silent = await connectClient(t, port);
      const reason = await within(closeOf(silent.socket.localPort!), 'the silent session to close');
      assert.ok(performance.now() - opened >= 140, 'not before the deadline');
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.DEADLINE_EXCEEDED);
      assert.match(reason.error!.message, /^session \d+ sent nothing within firstByteTimeout \(150 ms\)$/);
      await within(silent.closed, 'the client to see the close');
      // The talker is older than the deadline and still served.
      talker.send('still');
      await talker.waitForText('histill');
      assert.equal(server.stats().sessions, 1);
    });
  });

  describe('maxLifetime', () => {
    it('closes a busy session once it has lived its lifetime', async (t) => {
      const { handler, closeOf } = recordingEcho();
      const server = await listenLocal(t, { maxLifetime: 200, noDelay: true }, handler);
      const client = await connectClient(t, server.addresses[0]!.port);
      const opened = performance.now();
      // Ping-pong for as long as the session lives: it is never idle.
      let rounds = 0;
      client.socket.on('data', () => void (++rounds, client.socket.write('x')));
      client.socket.setNoDelay(true);
      client.send('x');
      const reason = await within(closeOf(client.socket.localPort!), 'the lifetime to end');
      assert.ok(performance.now() - opened >= 190, 'not before the lifetime');
      assert.ok(rounds > 10, `busy until the end (${rounds} round trips)`);
      assert.equal(reason.cause, CloseCause.LIMIT);
      assert.equal(reason.error?.code, ErrorCode.DEADLINE_EXCEEDED);
      assert.match(reason.error!.message, /^session \d+ reached maxLifetime \(200 ms\)$/);
    });
  });
});

describe('PeriodicSweep', () => {
  it('ticks only between start and stop, and picks a period of an eighth of the deadline within 10 ms..1 s', async () => {
    assert.equal(sweepPeriodFor(40), 10);
    assert.equal(sweepPeriodFor(800), 100);
    assert.equal(sweepPeriodFor(300_000), 1000);
    let ticks = 0;
    const ticked = deferred();
    const sweep = new PeriodicSweep(10, () => {
      if (++ticks === 2) ticked.resolve();
    });
    assert.equal(sweep.running, false);
    sweep.start();
    sweep.start();
    await within(ticked.promise, 'two ticks');
    sweep.stop();
    assert.equal(sweep.running, false);
  });
});

describe('DescriptorWatch', () => {
  it('warns when exhaustion starts, then at most once a minute while it lasts', () => {
    let now = 0;
    const warnings: string[] = [];
    const watch = new DescriptorWatch((cause) => warnings.push(cause.code!), 1000, () => now);
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    watch.failed(emfile);
    now += 30_000;
    watch.failed(emfile);
    assert.deepEqual(warnings, ['EMFILE']);
    assert.equal(watch.exhausted, true);
    now += 30_000;
    watch.failed(emfile);
    assert.deepEqual(warnings, ['EMFILE', 'EMFILE']);
    watch.probe(); // this process has descriptors to spare
    assert.equal(watch.exhausted, false);
    watch.failed(Object.assign(new Error('accept ENFILE'), { code: 'ENFILE' }));
    assert.deepEqual(warnings, ['EMFILE', 'EMFILE', 'ENFILE']);
  });
});
