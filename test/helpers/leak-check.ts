/**
 * Importing this module checks, once every test of the importing file and all their cleanup
 * hooks have run, that no network handle (TCP, UDP, pipe) is left open beyond those open before
 * the file's first test. (Per-test checks, where a test needs one, call `assertNoLeakedHandles`.)
 */
import { after, before } from 'node:test';
import { assertNoLeakedHandles, openNetworkHandles } from '../../src/testing/leaks.ts';

let baseline: string[] = [];

before(() => {
  baseline = openNetworkHandles();
});

// Closing completes inside libuv a few loop turns after close(): the kit's check polls, bounded.
after(() => assertNoLeakedHandles(baseline));
