import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActivationError } from '../../src/net/activation-error.ts';
import { parseListenEnvironment, takeListenEnvironment } from '../../src/net/listen-env.ts';

const PID = 4242;

describe('parseListenEnvironment', () => {
  it('numbers the fds from 3 and names them from LISTEN_FDNAMES', () => {
    assert.deepEqual(parseListenEnvironment({ LISTEN_PID: '4242', LISTEN_FDS: '3', LISTEN_FDNAMES: 'echo:echo:echo-udp' }, PID), {
      entries: [
        { fd: 3, name: 'echo' },
        { fd: 4, name: 'echo' },
        { fd: 5, name: 'echo-udp' },
      ],
      reason: undefined,
    });
  });

  it('calls unnamed fds "unknown", as libsystemd does', () => {
    assert.deepEqual(parseListenEnvironment({ LISTEN_PID: '4242', LISTEN_FDS: '2' }, PID).entries, [
      { fd: 3, name: 'unknown' },
      { fd: 4, name: 'unknown' },
    ]);
  });

  it('ignores fds meant for another process, saying why', () => {
    assert.deepEqual(parseListenEnvironment({ LISTEN_PID: '41', LISTEN_FDS: '1' }, PID), { entries: [], reason: 'LISTEN_PID=41 is another process (this is 4242)' });
    assert.deepEqual(parseListenEnvironment({ LISTEN_PID: '41', LISTEN_FDS: '1' }, PID, { allowMissingPid: true }).entries, [], 'allowMissingPid does not take another process’s fds');
  });

  it('takes fds without LISTEN_PID only with allowMissingPid', () => {
    assert.deepEqual(parseListenEnvironment({ LISTEN_FDS: '1' }, PID), { entries: [], reason: 'LISTEN_PID is not set (allowMissingPid accepts that)' });
    assert.deepEqual(parseListenEnvironment({ LISTEN_PID: '', LISTEN_FDS: '1' }, PID, { allowMissingPid: true }).entries, [{ fd: 3, name: 'unknown' }]);
  });

  it('has nothing when LISTEN_FDS is unset or 0', () => {
    assert.deepEqual(parseListenEnvironment({}, PID), { entries: [], reason: 'LISTEN_FDS is not set' });
    assert.deepEqual(parseListenEnvironment({ LISTEN_PID: '4242', LISTEN_FDS: '0' }, PID), { entries: [], reason: 'LISTEN_FDS=0' });
  });

  it('rejects malformed variables meant for this process with SWB_ERR_ACTIVATION_BAD_ENVIRONMENT', () => {
    const cases: [Record<string, string>, string][] = [
      [{ LISTEN_PID: 'me', LISTEN_FDS: '1' }, 'socket activation: LISTEN_PID="me" is not a process id'],
      [{ LISTEN_PID: '4242', LISTEN_FDS: '-1' }, 'socket activation: LISTEN_FDS="-1" is not a count of fds'],
      [{ LISTEN_PID: '4242', LISTEN_FDS: '2x' }, 'socket activation: LISTEN_FDS="2x" is not a count of fds'],
      [{ LISTEN_PID: '4242', LISTEN_FDS: '99999999' }, 'socket activation: LISTEN_FDS="99999999" is not a count of fds'],
      [{ LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b:c' }, 'socket activation: LISTEN_FDNAMES="a:b:c" has 3 name(s) for LISTEN_FDS=2'],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => parseListenEnvironment(env, PID),
        (error: unknown) => error instanceof ActivationError && error.code === 'SWB_ERR_ACTIVATION_BAD_ENVIRONMENT' && error.message === message,
        JSON.stringify(env),
      );
    }
  });
});

describe('takeListenEnvironment', () => {
  it('reads the variables once, removes them from process.env, and returns the same values again', () => {
    process.env.LISTEN_PID = String(process.pid);
    process.env.LISTEN_FDS = '2';
    process.env.LISTEN_FDNAMES = 'a:b';
    const first = takeListenEnvironment();
    assert.deepEqual({ ...first }, { LISTEN_PID: String(process.pid), LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' });
    assert.deepEqual(Object.keys(process.env).filter((key) => key.startsWith('LISTEN_')), []);
    process.env.LISTEN_FDS = '7'; // set again later: not ours any more, not read
    assert.deepEqual({ ...takeListenEnvironment() }, { ...first });
    delete process.env.LISTEN_FDS;
  });
});
