import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ErrorCode, InvalidOptionError, ListenError, OpError, SwitchboardError } from '../../src/index.ts';
import { opErrorFromSystem } from '../../src/core/errors.ts';

describe('errors', () => {
  it('lists every code in docs/errors.md with a one-line meaning', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const code of Object.values(ErrorCode)) assert.match(doc, new RegExp(`^\\| \`${code}\` \\| .+ \\|$`, 'm'), `${code} is not documented`);
  });

  it('names the class and keeps the code', () => {
    const error = new InvalidOptionError('backlog', 'must be a non-negative integer', -1);
    assert.equal(error.name, 'InvalidOptionError');
    assert.equal(error.code, ErrorCode.INVALID_OPTION);
    assert.ok(error instanceof SwitchboardError);
    assert.equal(error.message, '`backlog` must be a non-negative integer, got -1');
  });

  it('formats system failures the way Go does, keeping the system error as cause', () => {
    const cause = Object.assign(new Error('listen EADDRINUSE: address already in use ::1:7000'), { code: 'EADDRINUSE' });
    const error = opErrorFromSystem({ op: 'listen', transport: 'tcp', address: '::1', port: 7000 }, cause);
    assert.ok(error instanceof OpError);
    assert.equal(error.message, 'listen tcp [::1]:7000: address already in use (EADDRINUSE)');
    assert.equal(error.code, ErrorCode.ADDRESS_IN_USE);
    assert.equal(error.cause, cause);
    assert.equal(error.syscallCode, 'EADDRINUSE');
  });

  it('maps permission and unknown system errors', () => {
    const denied = opErrorFromSystem({ op: 'listen', transport: 'udp', address: '127.0.0.1', port: 53 }, Object.assign(new Error('x'), { code: 'EACCES' }));
    assert.equal(denied.message, 'listen udp 127.0.0.1:53: permission denied (EACCES)');
    assert.equal(denied.code, ErrorCode.PERMISSION_DENIED);
    const odd = opErrorFromSystem({ op: 'read', transport: 'tcp' }, Object.assign(new Error('read ENOBUFS: no buffer space available'), { code: 'ENOBUFS' }));
    assert.equal(odd.message, 'read tcp: no buffer space available (ENOBUFS)');
    assert.equal(odd.code, ErrorCode.SOCKET);
  });

  it('joins every failure of a group into one ListenError', () => {
    const a = new OpError({ op: 'listen', transport: 'tcp', address: '127.0.0.1', port: 1 }, ErrorCode.PERMISSION_DENIED, 'permission denied');
    const b = new OpError({ op: 'listen', transport: 'tcp', address: '::1', port: 1 }, ErrorCode.ADDRESS_IN_USE, 'address already in use');
    const error = new ListenError([a, b]);
    assert.equal(error.code, ErrorCode.PERMISSION_DENIED);
    assert.equal(error.message, 'listen tcp 127.0.0.1:1: permission denied; listen tcp [::1]:1: address already in use');
    assert.deepEqual(error.failures, [a, b]);
  });
});
