import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActivationError } from '../../src/net/activation-error.ts';
import { adoptStreamFd, datagramTypeOf, describeListenFd, listenFds, selectListenFds, type ListenFd, type ListenFdSet } from '../../src/net/listen-fds.ts';
import { createServer } from 'node:net';
import '../helpers/leak-check.ts';

const base = { family: 'IPv4', address: '127.0.0.1', port: 7, state: 'listening', closeOnExec: true } as const;
const tcp4: ListenFd = { ...base, fd: 3, name: 'echo', kind: 'stream' };
const tcp6: ListenFd = { ...base, fd: 4, name: 'echo', kind: 'stream', family: 'IPv6', address: '::1' };
const udp: ListenFd = { ...base, fd: 5, name: 'echo-udp', kind: 'datagram', state: 'unconnected' };
const set: ListenFdSet = { fds: [tcp4, tcp6, udp], reason: undefined };

function throwsActivation(run: () => unknown, code: string, message: string, where: { fd?: number; fdName?: string } = {}): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ActivationError);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    assert.equal(error.fd, where.fd);
    assert.equal(error.fdName, where.fdName);
    return true;
  });
}

describe('selectListenFds', () => {
  it('takes every fd of a name, in order', () => {
    assert.deepEqual(selectListenFds(set, { transport: 'tcp', names: 'echo' }), [tcp4, tcp6]);
    assert.deepEqual(selectListenFds(set, { transport: 'udp', names: ['echo-udp'] }), [udp]);
  });

  it('takes every fd of the transport’s kind when unnamed, leaving the others alone', () => {
    assert.deepEqual(selectListenFds(set, { transport: 'tcp' }), [tcp4, tcp6]);
    assert.deepEqual(selectListenFds(set, { transport: 'udp' }), [udp]);
  });

  it('refuses a named fd of the wrong kind, naming the fd and the name', () => {
    throwsActivation(
      () => selectListenFds(set, { transport: 'tcp', names: ['echo', 'echo-udp'] }),
      'SWB_ERR_ACTIVATION_FD_TYPE',
      'socket activation: fd 5 "echo-udp" (udp 127.0.0.1:7) is a datagram socket, not a stream (TCP) listener',
      { fd: 5, fdName: 'echo-udp' },
    );
    throwsActivation(
      () => selectListenFds(set, { transport: 'udp', names: 'echo' }),
      'SWB_ERR_ACTIVATION_FD_TYPE',
      'socket activation: fd 3 "echo" (tcp 127.0.0.1:7) is a stream socket, not a datagram (UDP) socket',
      { fd: 3, fdName: 'echo' },
    );
  });

  it('refuses a connected socket, a unix socket, a non-socket and a closed fd for a listener', () => {
    const cases: [ListenFd, string][] = [
      [{ ...tcp4, state: 'connected' }, 'socket activation: fd 3 "echo" (tcp 127.0.0.1:7, connected) is a connected socket (Accept=yes), not a listener: serve it in inetd mode'],
      [{ ...tcp4, family: 'unix', address: '/run/echo.sock', port: undefined }, 'socket activation: fd 3 "echo" (unix tcp /run/echo.sock) is a unix socket; the TCP server serves IP sockets'],
      [{ ...tcp4, kind: 'seqpacket' }, 'socket activation: fd 3 "echo" (seqpacket 127.0.0.1:7) is a seqpacket socket, not a stream (TCP) listener'],
      [{ ...tcp4, kind: 'not-socket', family: undefined, address: undefined }, 'socket activation: fd 3 "echo" (not-socket) is not a socket'],
      [{ ...tcp4, kind: 'closed', family: undefined, address: undefined }, 'socket activation: fd 3 "echo" (closed) is not open'],
    ];
    for (const [fd, message] of cases) throwsActivation(() => selectListenFds({ fds: [fd], reason: undefined }, { transport: 'tcp', names: 'echo' }), 'SWB_ERR_ACTIVATION_FD_TYPE', message, { fd: 3, fdName: 'echo' });
  });

  it('leaves an fd of unknown kind to be checked on adoption', () => {
    const unknown: ListenFd = { fd: 3, name: 'echo', kind: 'unknown', family: undefined, address: undefined, port: undefined, state: undefined, closeOnExec: undefined };
    assert.deepEqual(selectListenFds({ fds: [unknown], reason: undefined }, { transport: 'tcp' }), [unknown]);
    assert.deepEqual(selectListenFds({ fds: [unknown], reason: undefined }, { transport: 'udp', names: 'echo' }), [unknown]);
  });

  it('names the names there are when one is missing', () => {
    throwsActivation(() => selectListenFds(set, { transport: 'tcp', names: 'web' }), 'SWB_ERR_ACTIVATION_NAME_NOT_FOUND', 'socket activation: no passed fd is named "web" (the names are: echo, echo-udp)', { fdName: 'web' });
  });

  it('says why there is nothing to select', () => {
    throwsActivation(() => selectListenFds({ fds: [], reason: 'LISTEN_FDS is not set' }, { transport: 'tcp' }), 'SWB_ERR_ACTIVATION_NO_SOCKETS', 'socket activation: no sockets were passed to this process: LISTEN_FDS is not set');
    throwsActivation(
      () => selectListenFds({ fds: [udp], reason: undefined }, { transport: 'tcp' }),
      'SWB_ERR_ACTIVATION_NO_SOCKETS',
      'socket activation: none of the passed fds is a stream (TCP) listener (fd 5 "echo-udp" (udp 127.0.0.1:7))',
    );
  });
});

describe('describeListenFd and datagramTypeOf', () => {
  it('brackets IPv6 and names unix paths', () => {
    assert.equal(describeListenFd(tcp6), 'fd 4 "echo" (tcp [::1]:7)');
    assert.equal(describeListenFd({ ...udp, family: 'unix', address: '', port: undefined }), 'fd 5 "echo-udp" (unix udp (unnamed))');
  });

  it('picks udp6 for IPv6 and udp4 otherwise', () => {
    assert.equal(datagramTypeOf({ ...udp, family: 'IPv6' }), 'udp6');
    assert.equal(datagramTypeOf(udp), 'udp4');
    assert.equal(datagramTypeOf({ ...udp, family: undefined }), 'udp4');
  });
});

describe('listenFds', () => {
  it('reads the environment it is given, for the pid it is given', () => {
    const found = listenFds({ env: { LISTEN_PID: '7', LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' }, pid: 7 });
    assert.equal(found.reason, undefined);
    assert.deepEqual(found.fds.map((fd) => [fd.fd, fd.name]), [[3, 'web']]);
  });
});

describe('adoptStreamFd', () => {
  it('refuses an fd already given to another server, before touching it', async () => {
    // No fd was passed to the test process: describe one of unknown kind (as off Linux), which
    // the pre-check lets through and Node's listen refuses (EINVAL: not an fd it can wrap).
    const server = createServer();
    const fake: ListenFd = { fd: 2 ** 30, name: 'echo', kind: 'unknown', family: undefined, address: undefined, port: undefined, state: undefined, closeOnExec: undefined };
    await assert.rejects(adoptStreamFd(server, fake), (error: unknown) => error instanceof ActivationError && error.code === 'SWB_ERR_ACTIVATION_FD_TYPE');
    await assert.rejects(adoptStreamFd(server, fake), (error: unknown) => {
      assert.ok(error instanceof ActivationError);
      assert.equal(error.code, 'SWB_ERR_ACTIVATION_FD_TAKEN');
      assert.equal(error.message, `socket activation: fd ${2 ** 30} "echo" (unknown) was already given to another server of this process`);
      return true;
    });
    server.close();
  });
});
