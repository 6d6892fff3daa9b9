/**
 * `switchboard/testing`: a kit for testing protocol servers with any test runner -- a server on
 * loopback cleaned up after the test, a scripted client with fault injection, and the checks
 * that a server's ledger balanced and nothing leaked. See docs/testing.md.
 * @module
 */
import '../core/platform.ts'; // first: on a Node.js too old, fail at load saying which version is needed
export { registerCleanup } from './cleanup.ts';
export type { Cleanup, TestCleanupContext } from './cleanup.ts';
export { listenLocal, listenLocalUdp } from './listen-local.ts';
export { ScriptedClient, scriptedClient } from './scripted-client.ts';
export type { ScriptFrame, ScriptCodec, ExpectedFrame, ExpectedClose, ScriptedClientOptions, ExpectOptions, SplitOptions } from './scripted-client.ts';
export { assertLedgerBalanced, assertNoLeakedHandles, assertServerClean, openNetworkHandles } from './leaks.ts';
export type { LeakCheckOptions } from './leaks.ts';
export { createSeededRandom, splitAt, splitRandomly } from './seeded-random.ts';
export type { SeededRandom } from './seeded-random.ts';
