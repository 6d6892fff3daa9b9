/**
 * After a test: the server's ledger balanced, and no network handle is left open. The ledger
 * identities are the ones docs/limits.md and docs/udp.md state; handles are read from
 * `process.getActiveResourcesInfo()`.
 */
import { AssertionError } from 'node:assert';
import { ServerState } from '../server/server-lifecycle.ts';
import { TcpServer } from '../tcp/tcp-server.ts';
import { UdpServer } from '../udp/udp-server.ts';

/** Network handles (TCP, UDP, pipes) open in this process now, by type: a baseline for {@link assertNoLeakedHandles}. */
export function openNetworkHandles(): string[] {
  return process.getActiveResourcesInfo().filter((type) => /TCP|UDP|Pipe/.test(type));
}

/** Options of {@link assertNoLeakedHandles} and {@link assertServerClean}. */
export interface LeakCheckOptions {
  /** How long to let libuv finish closing handles (a close completes a few loop turns after `close()`), in ms. @default 2000 */
  timeout?: number;
}

/**
 * Resolves once no more network handles are open than in `baseline` (taken with
 * {@link openNetworkHandles} before the test); rejects naming both lists when some stay open.
 * Polls once per event-loop turn, bounded by `timeout`.
 * @throws {AssertionError} (rejects) `leaked network handles: before [...], after [...]`
 */
export async function assertNoLeakedHandles(baseline: readonly string[], options: LeakCheckOptions = {}): Promise<void> {
  const deadline = performance.now() + (options.timeout ?? 2000);
  for (let turn = 0; turn < 100_000 && performance.now() < deadline; turn++) {
    if (openNetworkHandles().length <= baseline.length) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const now = openNetworkHandles();
  if (now.length > baseline.length) {
    throw new AssertionError({ message: `leaked network handles: before ${JSON.stringify(baseline)}, after ${JSON.stringify(now)}`, actual: now, expected: baseline, operator: 'assertNoLeakedHandles' });
  }
}

function fail(server: string, broken: readonly string[], stats: object): never {
  throw new AssertionError({ message: `${server} ledger does not balance: ${broken.join('; ')}; stats ${JSON.stringify(stats)}`, operator: 'assertLedgerBalanced' });
}

const sum = (counts: Readonly<Record<string, number>>, keys?: readonly string[]): number =>
  (keys ?? Object.keys(counts)).reduce((total, key) => total + (counts[key] ?? 0), 0);

/**
 * Asserts the server's `stats()` identities hold now -- TCP: `accepted = closed + sessions +
 * pending`, `rejected` = the sum of `rejectedBy`; UDP: `datagramsIn = accepted` + the drops
 * before delivery -- and, once the server is closed, that nothing is open (listeners, sessions,
 * pending connections; UDP: nothing queued, in flight or pending).
 * @throws {AssertionError} naming each identity that failed, with the stats
 */
export function assertLedgerBalanced(server: TcpServer | UdpServer): void {
  const closed = server.state === ServerState.CLOSED;
  const broken: string[] = [];
  if (server instanceof TcpServer) {
    const stats = server.stats();
    if (stats.accepted !== stats.closed + stats.sessions + stats.pending) broken.push(`accepted ${stats.accepted} \u2260 closed ${stats.closed} + sessions ${stats.sessions} + pending ${stats.pending}`);
    if (stats.rejected !== sum(stats.rejectedBy)) broken.push(`rejected ${stats.rejected} \u2260 the sum of rejectedBy (${sum(stats.rejectedBy)})`);
    if (closed && stats.listeners + stats.sessions + stats.pending > 0) broken.push(`closed with ${stats.listeners} listeners, ${stats.sessions} sessions and ${stats.pending} pending still open`);
    if (broken.length > 0) fail('TCP server', broken, stats);
    return;
  }
  const stats = server.stats();
  const undelivered = sum(stats.dropped, ['too-large', 'rate-limit', 'queue-full', 'max-in-flight']);
  if (stats.datagramsIn !== stats.accepted + undelivered) broken.push(`datagramsIn ${stats.datagramsIn} \u2260 accepted ${stats.accepted} + drops before delivery ${undelivered}`);
  if (closed && stats.listeners + stats.queued + stats.inFlight + stats.pendingReplies > 0) {
    broken.push(`closed with ${stats.listeners} sockets, ${stats.queued} queued, ${stats.inFlight} in flight and ${stats.pendingReplies} replies pending`);
  }
  if (broken.length > 0) fail('UDP server', broken, stats);
}

/**
 * After a test: the server is closed, its ledger balanced ({@link assertLedgerBalanced}) and no
 * network handle is left beyond `baseline` ({@link assertNoLeakedHandles}).
 * @throws {AssertionError} (rejects) when the server is still open, the ledger is off, or a handle leaked
 * @example
 * const baseline = openNetworkHandles();
 * const server = await listenLocal(t, {}, handler);
 * // ... the test ...
 * await server.close();
 * await assertServerClean(server, baseline);
 */
export async function assertServerClean(server: TcpServer | UdpServer, baseline: readonly string[], options: LeakCheckOptions = {}): Promise<void> {
  if (server.state !== ServerState.CLOSED) {
    throw new AssertionError({ message: `the server is ${server.state}, not closed: close it before checking it left nothing behind`, operator: 'assertServerClean' });
  }
  assertLedgerBalanced(server);
  await assertNoLeakedHandles(baseline, options);
}
