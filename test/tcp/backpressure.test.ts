/**
 * The user's pause() is theirs: an async handler settling must not resume reading behind it.
 * Each case pauses because write() returned false (the peer does not read), then checks that the
 * socket reads nothing more until the user resumes.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createLineCodec, framed, type TcpEventHandler, type EventSession } from '../../src/index.ts';
import { connectClient, deferred, listenLocal, until, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

const REPLY = Buffer.alloc(256 * 1024, 0x72);
const BLOCK = Buffer.alloc(64 * 1024, 0x62);
/** Far more input than one paused socket reads: the kernel holds the rest. */
const INPUT = Buffer.alloc(4 * 1024 * 1024, 'request line that the server answers at length\n');

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A bounded number of event-loop turns (each one polls the sockets), not a sleep. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await tick();
}

interface Paused {
  readonly session: EventSession;
  /** Resolves once the handler that paused has settled. */
  readonly settled: Promise<void>;
}

/** Serves `handler`, connects a peer that sends INPUT but never reads, and waits for the user's pause. */
async function pausedByUser(t: TestContext, handler: (paused: PromiseWithResolvers<Paused>) => TcpEventHandler): Promise<{ paused: Paused; bytesAtPause: number }> {
  const paused = deferred<Paused>();
  const server = await listenLocal(t, {}, handler(paused));
  server.on('error', () => {});
  const client = await connectClient(t, server.addresses[0]!.port);
  client.socket.pause(); // never reads: every reply stays queued
  client.socket.write(INPUT);
  const result = await within(paused.promise, 'the handler to pause the session');
  await within(result.settled, 'the pausing handler to settle');
  return { paused: result, bytesAtPause: result.session.bytesRead };
}

/** Nothing more is read while the user's pause stands; reading comes back when the user resumes. */
async function assertHeldUntilResume({ paused, bytesAtPause }: { paused: Paused; bytesAtPause: number }): Promise<void> {
  const { session } = paused;
  await turns(30);
  assert.equal(session.state, 'open', `the session stayed open (${session.closeReason?.error?.message ?? ''})`);
  assert.equal(session.bytesRead, bytesAtPause, 'the socket read on although the user had paused it');
  session.resume();
  await until(() => session.bytesRead > bytesAtPause, 'reading to resume after resume()');
}

describe('EventSession', () => {
  describe('#pause', () => {
    it('stays paused when an async data handler settles after pausing', async (t) => {
      const state = await pausedByUser(t, (paused) => ({
        async data(session) {
          await tick();
          if (session.write(REPLY)) return;
          session.pause();
          const settled = deferred();
          paused.resolve({ session, settled: settled.promise });
          queueMicrotask(() => void tick().then(() => settled.resolve()));
        },
      }));
      await assertHeldUntilResume(state);
    });

    it('stays paused when an async open handler settles after pausing', async (t) => {
      const state = await pausedByUser(t, (paused) => ({
        async open(session) {
          await tick();
          for (let i = 0; i < 4096 && session.write(BLOCK); i++);
          session.pause();
          const settled = deferred();
          paused.resolve({ session, settled: settled.promise });
          queueMicrotask(() => void tick().then(() => settled.resolve()));
        },
        data() {},
      }));
      await assertHeldUntilResume(state);
    });

    it('stays paused when an async frame handler settles after pausing', async (t) => {
      let pausedOnce = false;
      const state = await pausedByUser(t, (paused) =>
        framed(() => createLineCodec(), {
          frame(session) {
            if (pausedOnce) return undefined; // frames decoded before the pause: handled at once
            return (async () => {
              await tick();
              if (session.write(REPLY)) return;
              pausedOnce = true;
              session.pause();
              const settled = deferred();
              paused.resolve({ session, settled: settled.promise });
              queueMicrotask(() => void tick().then(() => settled.resolve()));
            })();
          },
        }),
      );
      // Frames already decoded from the chunks read before the pause are still handled.
      await assertHeldUntilResume(state);
    });
  });
});
