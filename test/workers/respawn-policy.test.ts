import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeRespawnOptions, RespawnSchedule, RESPAWN_DEFAULTS } from '../../src/workers/respawn-policy.ts';

describe('RespawnSchedule', () => {
  it('doubles the delay from 100 ms to the 30 s cap on early exits', () => {
    const schedule = new RespawnSchedule({ ...RESPAWN_DEFAULTS, crashLoopExits: 100 });
    const delays = Array.from({ length: 12 }, () => schedule.exited(10));
    assert.deepEqual(
      delays.map((d) => (d.action === 'respawn' ? d.delay : -1)),
      [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000],
    );
  });

  it('resets the delay and the count after a worker lived minUptime', () => {
    const schedule = new RespawnSchedule(RESPAWN_DEFAULTS);
    schedule.exited(10);
    schedule.exited(10);
    assert.equal(schedule.earlyExits, 2);
    assert.deepEqual(schedule.exited(60_000), { action: 'respawn', delay: 100 });
    assert.equal(schedule.earlyExits, 0);
  });

  it('stops at the tenth early exit in a row', () => {
    const schedule = new RespawnSchedule(RESPAWN_DEFAULTS);
    for (let exit = 1; exit < 10; exit++) assert.equal(schedule.exited(59_999).action, 'respawn');
    assert.deepEqual(schedule.exited(0), { action: 'stop', earlyExits: 10 });
  });
});

describe('normalizeRespawnOptions', () => {
  it('applies the defaults and names a bad field', () => {
    assert.deepEqual(normalizeRespawnOptions(undefined), { initialDelay: 100, maxDelay: 30_000, minUptime: 60_000, crashLoopExits: 10 });
    assert.throws(() => normalizeRespawnOptions({ initialDelay: -1 }), { code: 'SWB_ERR_INVALID_OPTION', message: /respawn\.initialDelay/ });
    assert.throws(() => normalizeRespawnOptions({ crashLoopExits: 0 }), { code: 'SWB_ERR_INVALID_OPTION', message: /respawn\.crashLoopExits/ });
    assert.throws(() => normalizeRespawnOptions({ initialDelay: 500, maxDelay: 100 }), { code: 'SWB_ERR_INVALID_OPTION', message: /respawn\.maxDelay/ });
  });
});
