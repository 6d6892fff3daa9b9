/**
 * Importing this module checks, once every test of the importing file and all their cleanup
 * hooks have run, that no network handle (TCP, UDP, pipe) is left open beyond those open before
 * the file's first test. (Per-test checks, where a test needs one, call `assertNoLeakedHandles`.)
 */
import { after, before } from 'node:test';
import { openNetworkHandles } from './net.ts';

let baseline: string[] = [];

before(() => {
  baseline = openNetworkHandles();
});

after(async () => {
  // Closing completes inside libuv a few loop turns after close(): poll, bounded in turns and time.
  const deadline = performance.now() + 2000;
  for (let turn = 0; turn < 10_000 && performance.now() < deadline; turn++) {
    if (openNetworkHandles().length <= baseline.length) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const now = openNetworkHandles();
  if (now.length > baseline.length) throw new Error(`leaked network handles: before ${JSON.stringify(baseline)}, after ${JSON.stringify(now)}`);
});
