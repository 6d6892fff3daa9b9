/**
 * A property of the whole TCP lifecycle: whatever the order of connects, resets, slow or hung
 * `accept` answers, suspend, throttle, close(), destroy() and abort, every accepted socket is
 * closed exactly once, every session that opened closes exactly once, and nothing is left.
 *
 * Each run is drawn from a seed (`PROPERTY_SEED`, `PROPERTY_RUNS` to replay or widen): the
 * schedule of actions is reproducible, the kernel's timing around it is not, which is the point.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { ErrorCode, TcpServer, type ConnectionInfo, type TcpEventHandler, type TcpServerOptions } from '../../src/index.ts';
import { seededRandom } from '../chaos/peers.ts';
import { assertNoLeakedHandles, openNetworkHandles, within } from '../helpers/net.ts';
import '../helpers/leak-check.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 24);
const SEED = Number(process.env.PROPERTY_SEED ?? 0x11fe);
/** Actions per run, and the most a run may take from its first action to `closed`. */
const MAX_ACTIONS = 40;
const RUN_BOUND_MS = 5000;

type Random = () => number;
/** The actions, weighted by repetition: mostly traffic, sometimes a change of state, rarely the end. */
const ACTIONS = [
  ...Array<'connect'>(8).fill('connect'),
  'connect-send', 'connect-send', 'connect-send', 'connect-reset', 'connect-reset',
  'reset', 'reset', 'reset', 'end', 'end',
  'suspend', 'resume', 'resume', 'throttle', 'throttle',
  'close', 'destroy', 'abort',
] as const;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const chance = (random: Random, p: number): boolean => random() < p;
const between = (random: Random, low: number, high: number): number => low + Math.floor(random() * (high - low + 1));

/** How the `accept` handler answers one connection. */
type HookAnswer = 'yes' | 'no' | 'later-yes' | 'later-no' | 'throw' | 'reject' | 'never';

/** What one run saw; checked when it ends. */
interface Observed {
  opens: Map<number, number>;
  closes: Map<number, number>;
  rejected: number;
  closeEvents: number;
  log: string[];
}

/** What every run together exercised, for the test's diagnostics. */
const coverage = new Map<string, number>();
const count = (key: string): void => void coverage.set(key, (coverage.get(key) ?? 0) + 1);

/** A client socket the run connects; it reads and drops what it receives. */
function client(port: number, random: Random, clients: Socket[]): Socket {
  const socket = connect({ port, host: '127.0.0.1', localAddress: pick(random, ['127.0.0.1', '127.0.0.2', '127.0.0.3']) });
  socket.on('error', () => {});
  socket.on('data', () => {});
  clients.push(socket);
  return socket;
}

function serverOptions(random: Random, signal: AbortSignal): TcpServerOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    signal,
    maxConnections: chance(random, 0.5) ? between(random, 1, 4) : 0,
    maxConnectionsPerAddress: chance(random, 0.4) ? between(random, 1, 2) : 0,
    acceptTimeout: pick(random, [0, 15, 40, 10_000]),
    ...(chance(random, 0.3) ? { busyMessage: 'busy\r\n' } : {}),
    idleTimeout: 0,
  };
}

function handler(random: Random, observed: Observed, withHook: boolean): TcpEventHandler {
  const answers: HookAnswer[] = ['yes', 'yes', 'no', 'later-yes', 'later-yes', 'later-no', 'throw', 'reject', 'never'];
  const events: TcpEventHandler = {
    open(session) {
      observed.opens.set(session.id, (observed.opens.get(session.id) ?? 0) + 1);
    },
    data(session, chunk) {
      session.write(chunk);
    },
    error() {},
    close(session) {
      observed.closes.set(session.id, (observed.closes.get(session.id) ?? 0) + 1);
    },
  };
  if (!withHook) return events;
  return {
    ...events,
    accept(_info: ConnectionInfo, signal: AbortSignal) {
      const answer = pick(random, answers);
      const delay = between(random, 0, 30);
      switch (answer) {
        case 'yes':
          return true;
        case 'no':
          return false;
        case 'throw':
          throw new Error('hook threw');
        case 'reject':
          return Promise.reject(new Error('hook rejected'));
        case 'never':
          // A hung lookup that at least listens to its signal (or the run's end cleans it up).
          return new Promise<boolean>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
        default:
          return new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(answer === 'later-yes'), delay);
            signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
          });
      }
    },
  };
}

/** One run: a server, a schedule of actions, then the checks. */
async function run(seed: number): Promise<void> {
  const random = seededRandom(seed);
  const controller = new AbortController();
  const observed: Observed = { opens: new Map(), closes: new Map(), rejected: 0, closeEvents: 0, log: [] };
  const server = new TcpServer(serverOptions(random, controller.signal), handler(random, observed, chance(random, 0.8)));
  server.on('rejected', ({ cause: reason }) => {
    observed.rejected++;
    count(`rejected ${reason}`);
  });
  server.on('session', () => count('session'));
  server.on('close', () => observed.closeEvents++);
  server.on('error', (error) => assert.equal(error.code, ErrorCode.HANDLER_FAILED, `only hook failures are errors: ${error.message}`));
  const clients: Socket[] = [];
  const balanced = (when: string): void => {
    const stats = server.stats();
    assert.equal(stats.accepted, stats.closed + stats.sessions + stats.pending, `seed ${seed} ${when}: accepted = closed + sessions + pending (${JSON.stringify(stats)})`);
  };

  let failure: unknown;
  try {
    // Sometimes the server is closed while it binds: listen() must reject and leave nothing.
    if (chance(random, 0.1)) {
      const listening = server.listen();
      const how = pick(random, ['close', 'destroy', 'abort'] as const);
      observed.log.push(`${how} while binding`);
      if (how === 'close') void server.close();
      else if (how === 'destroy') void server.destroy();
      else controller.abort();
      await assert.rejects(listening, { code: ErrorCode.SERVER_CLOSED });
    } else {
      await server.listen();
    }
    const port = server.addresses[0]?.port ?? 0;
    const started = performance.now();
    const actions = between(random, 4, MAX_ACTIONS);
    for (let step = 0; step < actions && port !== 0; step++) {
      const action = pick(random, ACTIONS);
      observed.log.push(action);
      switch (action) {
        case 'connect':
          client(port, random, clients);
          break;
        case 'connect-send':
          client(port, random, clients).write('hello\n');
          break;
        case 'connect-reset': {
          const socket = client(port, random, clients);
          socket.once('connect', () => socket.resetAndDestroy());
          break;
        }
        case 'reset':
          if (clients.length > 0) {
            const socket = pick(random, clients);
            if (!socket.destroyed && !socket.connecting) socket.resetAndDestroy();
          }
          break;
        case 'end':
          if (clients.length > 0) pick(random, clients).end();
          break;
        case 'suspend':
          server.suspend();
          break;
        case 'resume':
          server.resume();
          break;
        case 'throttle':
          server.throttle({ maxConnections: between(random, 0, 4), maxConnectionsPerAddress: between(random, 0, 2) });
          break;
        case 'close':
          void server.close({ timeout: between(random, 0, 60) });
          break;
        case 'destroy':
          void server.destroy();
          break;
        case 'abort':
          controller.abort();
          break;
      }
      balanced(`after ${action}`);
      // Mostly quick successions; now and then long enough for an acceptTimeout to pass.
      await new Promise((resolve) => setTimeout(resolve, chance(random, 0.1) ? between(random, 20, 60) : between(random, 0, 6)));
      balanced(`a moment after ${action}`);
    }
    // The run ends with a close of some kind if none came yet (a later one joins the first).
    const last = pick(random, ['close', 'destroy', 'abort'] as const);
    observed.log.push(`end: ${last}`);
    if (last === 'close') void server.close({ timeout: between(random, 0, 60) });
    else if (last === 'destroy') void server.destroy();
    else controller.abort();
    await within(server.closed, `seed ${seed}: closed (actions ${observed.log.join(', ')})`, Math.max(0, RUN_BOUND_MS - (performance.now() - started)) + 1000);

    const stats = server.stats();
    assert.equal(server.state, 'closed');
    assert.deepEqual(
      { listeners: stats.listeners, sessions: stats.sessions, pending: stats.pending },
      { listeners: 0, sessions: 0, pending: 0 },
      `seed ${seed}: nothing open after close`,
    );
    assert.equal(stats.accepted, stats.closed, `seed ${seed}: accepted = closed`);
    assert.equal(stats.accepted, observed.opens.size + stats.rejected, `seed ${seed}: each accepted socket opened a session or was refused`);
    assert.equal(observed.rejected, stats.rejected, `seed ${seed}: one rejected event per refusal`);
    assert.equal(observed.closeEvents, 1, `seed ${seed}: close emitted once`);
    assert.deepEqual([...observed.closes.keys()].sort(), [...observed.opens.keys()].sort(), `seed ${seed}: every session that opened closed`);
    for (const [id, count] of observed.opens) assert.equal(count, 1, `seed ${seed}: session ${id} opened ${count} times`);
    for (const [id, count] of observed.closes) assert.equal(count, 1, `seed ${seed}: session ${id} closed ${count} times`);
  } catch (error) {
    failure = error;
  }
  // Clean up whatever happened, bounded; the run's own failure is the one reported.
  try {
    for (const socket of clients) socket.destroy();
    await within(
      Promise.all(clients.map((socket) => (socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', resolve))))),
      `seed ${seed}: the clients to close`,
    );
    await within(server.destroy(), `seed ${seed}: destroy() after the run`);
  } catch (error) {
    failure ??= error;
  }
  if (failure !== undefined) throw failure;
}

describe('TcpServer lifecycle', () => {
  it(`balances its ledger and closes each session once, over ${RUNS} random interleavings`, { timeout: RUNS * (RUN_BOUND_MS + 2000) }, async (t) => {
    t.diagnostic(`seed ${SEED}, ${RUNS} runs`);
    for (let index = 0; index < RUNS; index++) {
      const before = openNetworkHandles();
      await run(SEED + index);
      await assertNoLeakedHandles(before);
    }
    t.diagnostic(JSON.stringify(Object.fromEntries([...coverage].sort())));
  });
});
