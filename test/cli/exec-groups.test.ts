/**
 * `switchboard exec` and what a program leaves behind: a background child that outlives the
 * shell that started it (holding its pipes), one that ignores SIGTERM, one that left the process
 * group; and a program's stderr that tries to drive the operator's terminal.
 *
 * The background child is a small node program that connects to a "witness" server of the test
 * and stays connected while it lives: the kernel closes its socket when it dies, so the test
 * learns of its death as an event, not by polling.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { connectClient, within } from '../helpers/net.ts';
import { startCli, type CliProcess } from './cli-process.ts';

const NODE = process.execPath;

/**
 * Connects to the witness, sends its pid, then idles until killed; `ignore-term` ignores SIGTERM.
 * It exits when the witness goes away, so a failing test leaves no process behind.
 */
const BACKGROUND = `
const [port, mode] = process.argv.slice(1);
if (mode === 'ignore-term') process.on('SIGTERM', () => {});
const socket = process.getBuiltinModule('node:net').connect(Number(port), '127.0.0.1', () => socket.write(String(process.pid)));
socket.on('error', () => {}).on('close', () => process.exit(1));
setInterval(() => {}, 60_000);
`;

/** A background process of the program, seen from the witness server. */
interface Witnessed {
  readonly pid: number;
  /** Resolves when the process has died (its connection closed). */
  readonly gone: Promise<void>;
}

/** A server that background processes connect to; `next()` resolves with the next one. */
async function startWitness(t: TestContext): Promise<{ port: number; next(): Promise<Witnessed> }> {
  const arrivals: Witnessed[] = [];
  const waiters: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.setEncoding('utf8').once('data', (text: string) => {
      arrivals.push({ pid: Number(text), gone });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  let taken = 0;
  return {
    port: (server.address() as { port: number }).port,
    next: () =>
      within(
        new Promise<Witnessed>((resolve) => {
          const check = (): void => {
            const found = arrivals[taken];
            if (found) {
              taken++;
              resolve(found);
            } else waiters.push(check);
          };
          check();
        }),
        'the background process to report in',
      ),
  };
}

/**
 * `sh -c 'BACKGROUND & echo started'`: the shell starts the background child (which inherits its
 * stdout and stderr) and exits at once. `prefix` goes before the background command (`setsid`).
 */
function shellWithBackgroundChild(witnessPort: number, mode = 'plain', prefix = ''): string[] {
  return ['sh', '-c', `${prefix} "$0" -e "$1" "$2" "$3" & echo started`, NODE, BACKGROUND, String(witnessPort), mode];
}

/** Connects, and waits until the shell printed `started` and its exit was logged. */
async function connectAndWaitForShellExit(t: TestContext, cli: CliProcess, port: number) {
  const client = await connectClient(t, port);
  await client.waitForText('started\n');
  const start = await cli.stdout.waitFor(/^start pid \d+ sh /, 'the start line');
  const shellPid = Number(/pid (\d+)/.exec(start)![1]);
  await cli.stdout.waitFor(new RegExp(`^exit pid ${shellPid} status 0 `), 'the shell to exit');
  return { client, shellPid };
}

describe('switchboard exec: process groups', () => {
  it('stops a background child that outlived the program on shutdown, and exits', async (t) => {
    const witness = await startWitness(t);
    const cli = startCli(t, ['exec', '--drain-timeout', '3s', '--listen', '127.0.0.1:0', '--', ...shellWithBackgroundChild(witness.port)]);
    const [listening] = await cli.listening(1);
    const { client } = await connectAndWaitForShellExit(t, cli, listening!.port);
    const background = await witness.next();
    assert.equal(client.socket.destroyed, false, 'the background child holds the output open: the session stays');

    cli.signal('SIGTERM');
    await within(background.gone, 'SIGTERM to reach the background child');
    await within(client.closed, 'the session to end with the output');
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
    assert.doesNotMatch(cli.stderr.text, /drain deadline/, 'no need to wait for the deadline');
  });

  it('stops a background child when the peer resets the connection, though the program has exited', async (t) => {
    const witness = await startWitness(t);
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--', ...shellWithBackgroundChild(witness.port)]);
    const [listening] = await cli.listening(1);
    const { client } = await connectAndWaitForShellExit(t, cli, listening!.port);
    const background = await witness.next();
    client.socket.resetAndDestroy();
    await within(background.gone, 'SIGTERM to reach the background child when the peer left');
    assert.equal(cli.child.exitCode, null, 'still serving');
    assert.deepEqual(await cli.stop(), { code: 0, signal: null });
  });

  it('sends SIGKILL at the drain deadline to a background child that ignores SIGTERM, and exits', async (t) => {
    const witness = await startWitness(t);
    const cli = startCli(t, ['exec', '--drain-timeout', '300ms', '--listen', '127.0.0.1:0', '--', ...shellWithBackgroundChild(witness.port, 'ignore-term')]);
    const [listening] = await cli.listening(1);
    const { shellPid } = await connectAndWaitForShellExit(t, cli, listening!.port);
    const background = await witness.next();
    cli.signal('SIGTERM');
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
    await within(background.gone, 'the background child to be dead once the CLI has exited', 1000);
    assert.match(cli.stderr.text, /^warning: 1 session\(s\) still open at the drain deadline: closing them$/m);
    assert.match(cli.stderr.text, new RegExp(`^warning: 1 program\\(s\\) still running at the drain deadline: SIGKILL to process group\\(s\\) ${shellPid}$`, 'm'));
  });

  it('closes the pipes held by a process that left the group at the drain deadline, and exits', async (t) => {
    const witness = await startWitness(t);
    const cli = startCli(t, ['exec', '--drain-timeout', '300ms', '--listen', '127.0.0.1:0', '--', ...shellWithBackgroundChild(witness.port, 'plain', 'setsid')]);
    const [listening] = await cli.listening(1);
    await connectAndWaitForShellExit(t, cli, listening!.port);
    const escaped = await witness.next();
    cli.signal('SIGTERM');
    assert.deepEqual(await cli.exit(), { code: 0, signal: null });
    assert.equal(await Promise.race([escaped.gone.then(() => 'gone'), 'alive']), 'alive', 'out of reach: it left the group');
    assert.match(cli.stderr.text, /^warning: 1 program\(s\) exited but their output is still held open \(by a process that left its group\): closing it$/m);
  });
});

describe('switchboard exec: stderr', () => {
  it('logs stderr lines without escape sequences, carriage returns or other controls', async (t) => {
    const hostile = '\x1b[31mred\x1b[0m \x1b]0;pwned\x07title \x1b[2J\x1b[Hclear\rreturn\x08\x07 \x9b2Jc1 \x1bcreset\ttab';
    const program = `process.stderr.write(${JSON.stringify(`${hostile}\r\nlast line\r\n`)})`;
    const cli = startCli(t, ['exec', '--listen', '127.0.0.1:0', '--', NODE, '-e', program]);
    const [listening] = await cli.listening(1);
    const client = await connectClient(t, listening!.port);
    await within(client.closed, 'the program to finish');
    await cli.stderr.waitFor(/^warning: pid \d+: last line$/, 'the last stderr line');
    const logged = cli.stderr.lines.filter((line) => /^warning: pid \d+: /.test(line)).map((line) => line.replace(/^warning: pid \d+: /, ''));
    assert.deepEqual(logged, ['red title clearreturn c1 reset\ttab', 'last line']);
    assert.deepEqual((await cli.stop()).code, 0);
  });
});
