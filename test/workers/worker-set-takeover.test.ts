/**
 * `serveWorkers({ takeOver })`: a new set in the same process serves the passed sockets an old
 * set holds — the same fds — and owns them once it serves (what `switchboard up`'s reload does
 * with `systemd:NAME` sockets). Under the real systemd-socket-activate.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HAS_SOCKET_ACTIVATE, socketActivate } from '../activation/activate.ts';
import { greetingPid } from './fixtures/short-connection.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/systemd-takeover.ts', import.meta.url));

interface TakeoverReport {
  aWorkers: number[];
  failed: string;
  fdOpenAfterFailure: boolean;
  aHeldAfterFailure: { fd: number; origin?: string }[];
  servedAfterFailure: number[];
  bWorkers: number[];
  aHeldAfterTakeover: { fd: number; origin?: string }[];
  bHeld: { fd: number; origin?: string }[];
  fdOpenAfterClose: boolean;
  servedAfterClose: number[];
  fdOpenAtEnd: boolean;
}

describe('serveWorkers({ takeOver }) on a passed socket (systemd-socket-activate)', () => {
  it('a set that fails to start leaves the socket to the old set; one that serves takes it over, and the old set closes without closing it', { skip: !HAS_SOCKET_ACTIVATE && 'needs systemd-socket-activate' }, async (t) => {
    const { activated, port } = await socketActivate(t, ['tcp4'], 1, (p) => ['-l', `127.0.0.1:${p}`, process.execPath, FIXTURE]);
    await greetingPid(port, 20_000); // the first connection starts it
    const report = await activated.report<TakeoverReport>('takeover', 30_000);
    const held = [{ fd: 3, origin: 'systemd' }];
    assert.equal(report.failed, 'SWB_ERR_WORKER_START_FAILED');
    assert.equal(report.fdOpenAfterFailure, true, 'the failed set did not close the borrowed fd');
    assert.deepEqual(report.aHeldAfterFailure, held, 'still the old set\'s');
    assert.ok(report.servedAfterFailure.every((pid) => report.aWorkers.includes(pid)), 'the old workers serve on');
    assert.deepEqual(report.aHeldAfterTakeover, [], 'the old set let go of it');
    assert.deepEqual(report.bHeld, held, 'the new set holds the same fd');
    assert.equal(report.fdOpenAfterClose, true, 'the old set closed without closing it');
    assert.ok(report.servedAfterClose.length > 0 && report.servedAfterClose.every((pid) => report.bWorkers.includes(pid)), 'the new workers serve it');
    assert.equal(report.fdOpenAtEnd, false, 'the set that owns it closes it');
  });
});
