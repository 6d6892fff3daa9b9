/**
 * Where the kit registers its cleanup: whatever the test runner gives a test, with no global of
 * any runner -- node:test's `t` (`t.after`), Vitest's test context (`onTestFinished`), or a
 * registering function itself (Vitest's `onTestFinished` or `afterEach`, Jest's `afterEach`).
 */
import { InvalidOptionError } from '../core/errors.ts';

/** A cleanup step: may be async; the runner awaits it. */
export type Cleanup = () => unknown;

/**
 * A test context the kit can register cleanup on: an object with `after(fn)` (node:test's
 * `TestContext`), an object with `onTestFinished(fn)` (Vitest's test context), or a function
 * that registers `fn` (`onTestFinished`, `afterEach`).
 */
export type TestCleanupContext = { after(fn: Cleanup): unknown } | { onTestFinished(fn: Cleanup): unknown } | ((fn: Cleanup) => unknown);

/**
 * Registers `cleanup` to run after the current test.
 * @throws {InvalidOptionError} `SWB_ERR_INVALID_OPTION` when `t` is none of the forms of {@link TestCleanupContext}
 */
export function registerCleanup(t: TestCleanupContext, cleanup: Cleanup): void {
  if (typeof t === 'function') {
    t(cleanup);
    return;
  }
  if (typeof t === 'object' && t !== null) {
    if (typeof (t as { after?: unknown }).after === 'function') {
      (t as { after(fn: Cleanup): unknown }).after(cleanup);
      return;
    }
    if (typeof (t as { onTestFinished?: unknown }).onTestFinished === 'function') {
      (t as { onTestFinished(fn: Cleanup): unknown }).onTestFinished(cleanup);
      return;
    }
  }
  throw new InvalidOptionError('t', "must be a test context with `after` (node:test) or `onTestFinished` (Vitest), or a function that registers a cleanup (Vitest's `onTestFinished`, `afterEach`)", t);
}
