/** The flags the settings table added so that every key has one: the library's limits and access lists, and exec's program environment, directory and user. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findUser } from '../../src/cli/exec/find-user.ts';
import { CliProcess, runCliToExit, startCli } from './cli-process.ts';
import { tcpExchange } from './clients.ts';

describe('limit and access flags', () => {
  it('--deny refuses a peer on the list and --allow admits one on its list', async (t) => {
    const cli = startCli(t, ['serve', 'echo', '--listen', '127.0.0.1:0', '--deny', '127.0.0.0/8', '--udp-rate', '0']);
    const { port } = CliProcess.find(await cli.listening(2), 'echo');
    assert.equal((await tcpExchange(t, '127.0.0.1', port, 'hi', { allowReset: true })).toString(), '');
    await cli.stderr.waitFor(/refused 127\.0\.0\.1:\d+ \(echo\): on the deny list/, 'the refusal');
    const allowed = startCli(t, ['exec', '--listen', '[::1]:0', '--allow', '::1', '--accept-rate', '100', '--max-output', '64KiB', '--first-byte-timeout', '5s', '--max-lifetime', '1m', '--', 'cat']);
    const served = CliProcess.find(await allowed.listening(1), 'cat', 'tcp', '::1');
    assert.equal((await tcpExchange(t, '::1', served.port, 'hi')).toString(), 'hi');
  });

  for (const [args, message] of [
    [['--max-output', '1Mb/s'], '--max-output "1Mb/s": expected bytes such as 1048576, 64KiB or 1MB (0 for no limit)'],
    [['--allow', '198.18.0.0/33'], '--allow "198.18.0.0/33": expected an IP address or a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32'],
    [['--accept-rate', 'fast'], '--accept-rate "fast": must be a non-negative integer (0 for no limit)'],
    [['--first-byte-timeout', '5 s'], '--first-byte-timeout "5 s": expected a duration such as 10s, 500ms, 2m or 0'],
  ] as const) {
    it(`refuses ${args.join(' ')} with exit 2`, async (t) => {
      const result = await runCliToExit(t, ['run', 'examples/chat.ts', '--listen', '127.0.0.1:0', ...args]);
      assert.equal(result.code, 2);
      assert.equal(result.stderr.split('\n')[0], `switchboard run: ${message}`);
    });
  }
});

describe('exec --env, --cwd and --user', () => {
  it("sets PROGRAM's variables and working directory", async (t) => {
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--env', 'GREETING=hi there', '--cwd', '/tmp', '--', 'sh', '-c', 'printf "%s %s" "$GREETING" "$(pwd)"']);
    const { port } = CliProcess.find(await cli.listening(1), 'sh');
    assert.equal((await tcpExchange(t, '127.0.0.1', port)).toString(), 'hi there /tmp');
  });

  it('runs PROGRAM as --user when started as root', { skip: process.geteuid?.() !== 0 && 'not root' }, async (t) => {
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--user', 'nobody', '--', 'id', '-u']);
    const { port } = CliProcess.find(await cli.listening(1), 'id');
    assert.equal((await tcpExchange(t, '127.0.0.1', port)).toString().trim(), '65534');
  });

  for (const [args, message] of [
    [['--env', 'NO-EQUALS'], '--env "NO-EQUALS": expected NAME=VALUE, NAME being letters, digits and _'],
    [['--cwd', '/no/such/dir'], '--cwd "/no/such/dir": no such directory'],
    [['--user', 'no-such-user-here'], process.geteuid?.() === 0 ? '--user "no-such-user-here": no such user' : '--user "no-such-user-here": changing user needs switchboard started as root'],
  ] as const) {
    it(`refuses ${args.join(' ')} with exit 2`, async (t) => {
      const result = await runCliToExit(t, ['exec', '--listen', '127.0.0.1:0', ...args, '--', 'cat']);
      assert.equal(result.code, 2);
      assert.equal(result.stderr.split('\n')[0], `switchboard exec: ${message}`);
    });
  }
});

describe('findUser', () => {
  const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nsvc:x:1001:1002::/home/svc:/bin/sh\nbroken line\n';
  it('finds a user by name or uid, with its primary group', () => {
    assert.deepEqual(findUser('svc', PASSWD, 0), { user: { name: 'svc', uid: 1001, gid: 1002 } });
    assert.deepEqual(findUser('1001', PASSWD, 0), { user: { name: 'svc', uid: 1001, gid: 1002 } });
    assert.deepEqual(findUser('4242', PASSWD, 0), { user: { name: '4242', uid: 4242, gid: 4242 } });
  });
  it('says why it cannot', () => {
    assert.deepEqual(findUser('nobody-here', PASSWD, 0), { problem: 'no such user' });
    assert.deepEqual(findUser('svc', PASSWD, 1000), { problem: 'changing user needs switchboard started as root' });
  });
});
