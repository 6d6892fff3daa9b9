/** The activation flags as pure functions: `--listen systemd:NAME` parsing and serve's fd-to-service plan. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ListenFd } from '../../src/index.ts';
import { planActivatedServe, readActivationFlags, serviceNameOf, tcpEndpoints } from '../../src/cli/activation-flags.ts';
import { UsageError } from '../../src/cli/exit-code.ts';
import { SERVICE_NAMES } from '../../src/cli/services/registry.ts';

function fd(number: number, name: string, kind: ListenFd['kind'] = 'stream'): ListenFd {
  return { fd: number, name, kind, family: 'IPv4', address: '127.0.0.1', port: 7, state: kind === 'datagram' ? 'unconnected' : 'listening', closeOnExec: true };
}

describe('readActivationFlags', () => {
  it('splits systemd:NAME from addresses, with an optional SERVICE= prefix for serve', () => {
    const request = readActivationFlags({ listen: ['127.0.0.1:7', 'systemd:web', 'echo=systemd:e'] }, 'serve', SERVICE_NAMES);
    assert.deepEqual(request, {
      listens: ['127.0.0.1:7'],
      named: [{ name: 'web', service: undefined, text: 'systemd:web' }, { name: 'e', service: 'echo', text: 'echo=systemd:e' }],
      all: false,
      inetd: false,
    });
  });

  const bad: [string, Parameters<typeof readActivationFlags>, RegExp][] = [
    ['an empty name', [{ listen: ['systemd:'] }, 'exec'], /^--listen "systemd:": expected systemd:NAME/],
    ['a name with a colon', [{ listen: ['systemd:a:b'] }, 'exec'], /^--listen "systemd:a:b": expected systemd:NAME/],
    ['a service prefix for exec', [{ listen: ['echo=systemd:x'] }, 'exec'], /^--listen "echo=systemd:x": exec takes no SERVICE= prefix$/],
    ['an unknown service', [{ listen: ['ech=systemd:x'] }, 'serve', SERVICE_NAMES], /^--listen "ech=systemd:x": unknown service "ech"/],
    ['--inetd with --listen', [{ inetd: true, listen: [':7'] }, 'exec'], /^--inetd serves the one connection/],
    ['--listen-fds with a name', [{ 'listen-fds': true, listen: ['systemd:web'] }, 'run'], /^--listen-fds already serves every passed fd: drop --listen systemd:web$/],
  ];
  for (const [title, args, message] of bad) {
    it(`refuses ${title} as a usage error`, () => {
      assert.throws(() => readActivationFlags(...args), (error: unknown) => error instanceof UsageError && message.test(error.message));
    });
  }

  it('exec and run need something to listen on', () => {
    assert.throws(() => tcpEndpoints(readActivationFlags({}, 'exec'), 'exec'), /^UsageError: --listen is required/);
    assert.doesNotThrow(() => tcpEndpoints(readActivationFlags({ 'listen-fds': true }, 'exec'), 'exec'));
  });
});

describe('planActivatedServe', () => {
  const all = readActivationFlags({ 'listen-fds': true }, 'serve', SERVICE_NAMES);

  it('maps --fdname=echo:echo:echo-udp to echo over TCP on fds 3 and 4 and over UDP on fd 5', () => {
    const plan = planActivatedServe(all, [], [fd(3, 'echo'), fd(4, 'echo'), fd(5, 'echo-udp', 'datagram')], undefined);
    assert.deepEqual(plan.map(({ service, tcp, udp }) => ({ service: service.name, tcp, udp })), [{ service: 'echo', tcp: [3, 4], udp: [5] }]);
  });

  it('takes the transport from the fd, not the name (echo:echo:echo with -d on the third)', () => {
    const plan = planActivatedServe(all, [], [fd(3, 'echo'), fd(4, 'daytime-tcp'), fd(5, 'echo', 'datagram')], undefined);
    assert.deepEqual(plan.map(({ service, tcp, udp }) => `${service.name} ${tcp} / ${udp}`), ['echo 3 / 5', 'daytime 4 / ']);
  });

  it('gives unnamed fds to the one service named, and refuses them otherwise', () => {
    const [plan] = planActivatedServe(all, ['qotd'], [fd(3, 'unknown')], undefined);
    assert.equal(plan!.service.name, 'qotd');
    assert.throws(() => planActivatedServe(all, [], [fd(3, 'unknown')], undefined), { code: 'SWB_ERR_ACTIVATION_NAME_NOT_FOUND', fd: 3, fdName: 'unknown' });
  });

  it('lets SERVICE=systemd:NAME choose the service, and refuses a name no fd has', () => {
    const request = readActivationFlags({ listen: ['time=systemd:clock'] }, 'serve', SERVICE_NAMES);
    const [plan] = planActivatedServe(request, [], [fd(3, 'clock'), fd(4, 'other')], undefined);
    assert.deepEqual({ service: plan!.service.name, tcp: plan!.tcp }, { service: 'time', tcp: [3] });
    const missing = readActivationFlags({ listen: ['systemd:nope'] }, 'serve', SERVICE_NAMES);
    assert.throws(() => planActivatedServe(missing, [], [fd(3, 'clock')], undefined), { code: 'SWB_ERR_ACTIVATION_NAME_NOT_FOUND', message: /no passed fd is named "nope" \(the names are: clock\)/ });
  });

  it('says why when nothing was passed', () => {
    assert.throws(() => planActivatedServe(all, [], [], 'LISTEN_FDS is not set'), { code: 'SWB_ERR_ACTIVATION_NO_SOCKETS', message: /: LISTEN_FDS is not set$/ });
  });

  it('strips only a -tcp or -udp suffix', () => {
    assert.deepEqual(['echo-udp', 'echo-tcp', 'echo', 'echo-x'].map(serviceNameOf), ['echo', 'echo', 'echo', 'echo-x']);
  });
});
