import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enqueueNotification, notifyArguments, notifyMessage, type NotifyMessage } from '../../src/activation/notify-message.ts';
import { ServiceNotifier, watchdogIntervalOf } from '../../src/activation/notify.ts';
import { InvalidOptionError } from '../../src/core/errors.ts';

function queued(...messages: Record<string, string>[]): string[][] {
  const queue: NotifyMessage[] = [];
  for (const message of messages) enqueueNotification(queue, notifyMessage(message));
  return queue.map(notifyArguments);
}

describe('notifyMessage', () => {
  it('keeps the order and makes values one line', () => {
    assert.deepEqual(notifyArguments(notifyMessage({ READY: '1', STATUS: 'a\r\nb\0c\nREADY=1' })), ['READY=1', 'STATUS=a b c READY=1']);
  });

  it('refuses keys sd_notify does not have', () => {
    for (const key of ['ready', 'A=B', '', '1X', 'X Y']) assert.throws(() => notifyMessage({ [key]: '1' }), InvalidOptionError, JSON.stringify(key));
  });
});

describe('enqueueNotification', () => {
  it('merges what does not change the state into the last message, later values last', () => {
    assert.deepEqual(queued({ STATUS: 'a' }, { WATCHDOG: '1' }, { STATUS: 'b' }, { WATCHDOG: '1' }), [['STATUS=b', 'WATCHDOG=1']]);
    assert.deepEqual(queued({ READY: '1' }, { STATUS: 'serving' }, { WATCHDOG: '1' }), [['READY=1', 'STATUS=serving', 'WATCHDOG=1']]);
    assert.deepEqual(queued({ STATUS: 'closing' }, { STOPPING: '1' }), [['STATUS=closing', 'STOPPING=1']]);
  });

  it('never merges two state changes, so their order holds', () => {
    assert.deepEqual(queued({ RELOADING: '1' }, { READY: '1' }, { STOPPING: '1' }, { STATUS: 'bye' }), [['RELOADING=1'], ['READY=1'], ['STOPPING=1', 'STATUS=bye']]);
  });
});

describe('watchdogIntervalOf', () => {
  it('halves WATCHDOG_USEC into milliseconds', () => {
    assert.equal(watchdogIntervalOf({ WATCHDOG_USEC: '30000000' }, 1), 15_000);
    assert.equal(watchdogIntervalOf({ WATCHDOG_USEC: '1' }, 1), 1, 'never a zero interval');
    assert.equal(watchdogIntervalOf({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }, 1), 15_000);
  });

  it('has none when unset, malformed, or meant for another process', () => {
    assert.equal(watchdogIntervalOf({}, 1), undefined);
    assert.equal(watchdogIntervalOf({ WATCHDOG_USEC: '0' }, 1), undefined);
    assert.equal(watchdogIntervalOf({ WATCHDOG_USEC: '3s' }, 1), undefined);
    assert.equal(watchdogIntervalOf({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '2' }, 1), undefined);
  });
});

describe('ServiceNotifier options', () => {
  it('refuses bad options where they are given', () => {
    const env = { NOTIFY_SOCKET: '/run/x.sock' };
    assert.throws(() => new ServiceNotifier({ env, command: '' }), /`command` must be a non-empty string, got ""/);
    assert.throws(() => new ServiceNotifier({ env, helperTimeout: 0 }), /`helperTimeout` must be an integer from 1 to 2147483647, got 0/);
    assert.throws(() => new ServiceNotifier({ env, mainPid: -1 }), /`mainPid` must be an integer >= 1, got -1/);
  });
});
