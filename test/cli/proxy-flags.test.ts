/**
 * `--proxy-protocol FROM` and `--proxy-untrusted refuse|direct`: read into the `proxyProtocol`
 * option, refused with a usage error naming the flag, and as a child process: exec's program sees
 * the client in TCPREMOTEIP/PORT and TCPLOCALIP/PORT and the balancer in PROXYREMOTEIP/PORT; serve
 * and run refuse a source outside FROM, or serve it direct.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeProxyHeader } from '../../src/index.ts';
import { readProxyFlags, withProxyProtocol } from '../../src/cli/proxy-flags.ts';
import { ucspiEnvironment } from '../../src/cli/exec/ucspi-env.ts';
import { UsageError } from '../../src/cli/exit-code.ts';
import { connectClient, within } from '../helpers/net.ts';
import { runCliToExit, startCli } from './cli-process.ts';

const NODE = process.execPath;
const PRINT_ENV = `console.log(['TCPREMOTEIP','TCPREMOTEPORT','TCPLOCALIP','TCPLOCALPORT','PROXYREMOTEIP','PROXYREMOTEPORT'].map((k) => process.env[k] ?? '-').join(' '));`;
const CLIENT = { address: '198.51.100.7', port: 40_001 };
const FRONT = { address: '192.0.2.80', port: 443 };

describe('--proxy-protocol and --proxy-untrusted', () => {
  describe('readProxyFlags', () => {
    it('reads repeated and comma-separated lists, and the policy', () => {
      assert.equal(readProxyFlags({}, 'serve'), undefined);
      assert.deepEqual(readProxyFlags({ 'proxy-protocol': ['127.0.0.0/8, ::1', '198.18.0.1'] }, 'serve'), { from: ['127.0.0.0/8', '::1', '198.18.0.1'] });
      assert.deepEqual(readProxyFlags({ 'proxy-protocol': ['127.0.0.1'], 'proxy-untrusted': 'direct' }, 'exec'), { from: ['127.0.0.1'], untrusted: 'direct' });
    });

    it('refuses a bad entry, a bad policy and --proxy-untrusted alone, naming the flag', () => {
      const cases: [Parameters<typeof readProxyFlags>[0], RegExp][] = [
        [{ 'proxy-protocol': ['127.0.0.1,lb.example'] }, /^--proxy-protocol "lb\.example": expected addresses or CIDR prefixes/],
        [{ 'proxy-protocol': ['198.18.0.0/33'] }, /^--proxy-protocol "198\.18\.0\.0\/33"/],
        [{ 'proxy-protocol': ['127.0.0.1'], 'proxy-untrusted': 'guess' }, /^--proxy-untrusted "guess": must be refuse or direct/],
        [{ 'proxy-untrusted': 'direct' }, /^--proxy-untrusted needs --proxy-protocol/],
      ];
      for (const [values, message] of cases) {
        assert.throws(() => readProxyFlags(values, 'serve'), (error: unknown) => error instanceof UsageError && message.test(error.message), JSON.stringify(values));
      }
    });

    it("sets proxyProtocol over the server options (a run module's own), leaving them otherwise", () => {
      const settings = { idleTimeout: 1, serverOptions: { noDelay: true, proxyProtocol: { from: ['198.18.0.9'] } } };
      assert.equal(withProxyProtocol(settings, undefined), settings);
      assert.deepEqual(withProxyProtocol(settings, { from: ['127.0.0.1'] }), { idleTimeout: 1, serverOptions: { noDelay: true, proxyProtocol: { from: ['127.0.0.1'] } } });
    });
  });

  describe('ucspiEnvironment', () => {
    it('adds PROXYREMOTEIP and PROXYREMOTEPORT behind a balancer, and removes stale ones otherwise', () => {
      const info = { remoteAddress: CLIENT.address, remotePort: CLIENT.port, remoteFamily: 'IPv4', localAddress: FRONT.address, localPort: FRONT.port, localFamily: 'IPv4' } as const;
      const proxy = { version: 2, command: 'proxy', family: 'IPv4', transport: 'stream', source: undefined, destination: undefined, tlvs: {} as never, peer: { address: '127.0.0.1', port: 5000, family: 'IPv4' } } as const;
      const relayed = ucspiEnvironment({ ...info, proxy }, {});
      assert.deepEqual([relayed.TCPREMOTEIP, relayed.TCPLOCALPORT, relayed.PROXYREMOTEIP, relayed.PROXYREMOTEPORT], [CLIENT.address, '443', '127.0.0.1', '5000']);
      const direct = ucspiEnvironment(info, { PROXYREMOTEIP: 'stale', PROXYREMOTEPORT: '1' });
      assert.equal(direct.PROXYREMOTEIP, undefined);
      assert.equal(direct.PROXYREMOTEPORT, undefined);
    });
  });

  describe('as a child process', () => {
    it("exec: PROGRAM sees the client in TCP* and the balancer in PROXYREMOTEIP/PORT", async (t) => {
      const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--proxy-protocol', '127.0.0.0/8', '--', NODE, '-e', PRINT_ENV]);
      const [listening] = await cli.listening(1);
      const client = await connectClient(t, listening!.port);
      const balancerPort = client.socket.localPort;
      client.send(encodeProxyHeader({ version: 1, source: CLIENT, destination: FRONT }));
      await within(client.closed, 'the program to finish');
      assert.equal(client.received.toString().trim(), `${CLIENT.address} ${CLIENT.port} ${FRONT.address} ${FRONT.port} 127.0.0.1 ${balancerPort}`);
      assert.equal((await cli.stop()).code, 0);
    });

    it('serve: refuses a source outside FROM, and serves it direct with --proxy-untrusted direct', async (t) => {
      const refusing = startCli(t, ['serve', 'echo=127.0.0.1:0', '--proxy-protocol', '198.18.0.1']);
      const [refusingEcho] = (await refusing.listening(2)).filter((line) => line.transport === 'tcp');
      const refused = await connectClient(t, refusingEcho!.port);
      refused.send('hello\n');
      await within(refused.closed, 'the untrusted connection to be closed');
      assert.equal(refused.received.length, 0);
      await refusing.stderr.waitFor(/proxy-untrusted/, 'the refusal in the log');
      assert.equal((await refusing.stop()).code, 0);

      const direct = startCli(t, ['serve', 'echo=127.0.0.1:0', '--proxy-protocol', '198.18.0.1', '--proxy-untrusted', 'direct']);
      const [directEcho] = (await direct.listening(2)).filter((line) => line.transport === 'tcp');
      const served = await connectClient(t, directEcho!.port);
      const forged = encodeProxyHeader({ version: 1, source: CLIENT, destination: FRONT }).toString();
      served.send(`${forged}hello\n`);
      assert.equal(await served.waitForText('hello\n'), `${forged}hello\n`, 'the forged header echoed as data');
      assert.equal((await direct.stop()).code, 0);
    });

    it('is a usage error (exit 2) for a bad FROM, and listed in --help', async (t) => {
      const bad = await runCliToExit(t, ['run', 'examples/chat.ts', '--listen', '127.0.0.1:0', '--proxy-protocol', 'nope']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--proxy-protocol "nope"/);
      for (const command of ['serve', 'exec', 'run']) {
        const help = await runCliToExit(t, [command, '--help']);
        assert.match(help.stdout, /--proxy-protocol FROM/);
        assert.match(help.stdout, /--proxy-untrusted P/);
      }
    });
  });
});
