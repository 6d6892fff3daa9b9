/**
 * A multi-homed server and a client, each in a network namespace the test creates, joined by a
 * veth pair; and a long-running Node process inside a namespace (the server side, or a flood
 * client), which `runNodeInNetns` cannot give since it waits for its script to finish.
 *
 *   server namespace                          client namespace
 *   v0: 192.0.2.1/24 (primary)                v1: 192.0.2.10/24
 *       192.0.2.2/24 (secondary)                  2001:db8::10/64
 *       2001:db8::1/64
 *       2001:db8::2/64 (deprecated: preferred_lft 0)
 *       fe80::…%v0 (link-local)                   fe80::…%v1
 */
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { within } from '../../helpers/net.ts';
import { createNetns } from '../../helpers/netns.ts';

const run = promisify(execFile);

/** The two namespaces' names. */
export interface MultiHomedPair {
  readonly server: string;
  readonly client: string;
}

/** Creates the two namespaces and the link between them; removed after the test. */
export async function createMultiHomedPair(t: TestContext): Promise<MultiHomedPair> {
  const client = await createNetns(t);
  const server = await createNetns(t);
  // No duplicate address detection, so every address can be bound as soon as it exists (the
  // tentative-address case is covered by the unit tests of the interface expansion).
  for (const ns of [server, client]) {
    await run('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
  }
  await run('ip', ['-n', server, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', client]);
  const serverSetup = [
    ['addr', 'add', '192.0.2.1/24', 'dev', 'v0'],
    ['addr', 'add', '192.0.2.2/24', 'dev', 'v0'],
    ['addr', 'add', '2001:db8::1/64', 'dev', 'v0', 'nodad'],
    ['addr', 'add', '2001:db8::2/64', 'dev', 'v0', 'nodad', 'preferred_lft', '0'],
    ['link', 'set', 'v0', 'up'],
  ];
  const clientSetup = [
    ['addr', 'add', '192.0.2.10/24', 'dev', 'v1'],
    ['addr', 'add', '2001:db8::10/64', 'dev', 'v1', 'nodad'],
    ['link', 'set', 'v1', 'up'],
  ];
  for (const command of serverSetup) await run('ip', ['-n', server, ...command]);
  for (const command of clientSetup) await run('ip', ['-n', client, ...command]);
  // The kernel adds each link-local address only once it sees the carrier (linkwatch runs
  // asynchronously, up to a second later); the per-interface server and the link-local probe
  // both need it, so wait for it on both ends.
  const deadline = Date.now() + 10_000;
  await Promise.all([linkLocalReady(server, 'v0', deadline), linkLocalReady(client, 'v1', deadline)]);
  return { server, client };
}

async function linkLocalReady(ns: string, device: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const { stdout } = await run('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', device, 'scope', 'link']);
    if (/inet6 fe80:/.test(stdout) && !/tentative/.test(stdout)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no usable link-local address on ${device} in ${ns} after 10 s`);
}

/** A Node script running inside a namespace that prints one JSON line when ready and one when stopped. */
export interface NetnsProcess<Ready, Final> {
  readonly ready: Ready;
  /** Closes its stdin (the script's cue to stop) and resolves with its last JSON line. */
  stop(): Promise<Final>;
}

/** How to start a script in a namespace. */
export interface NetnsScriptOptions {
  /** The script's arguments. */
  readonly args?: readonly string[];
  /** Raise the open-file limit (soft and hard, with `prlimit`) for a script that opens many sockets. */
  readonly maxOpenFiles?: number;
}

/** Starts `script` inside `ns` with this Node and waits (bounded) for its first JSON line. */
export async function startNodeInNetns<Ready, Final>(t: TestContext, ns: string, script: string, options: NetnsScriptOptions = {}): Promise<NetnsProcess<Ready, Final>> {
  const node = [process.execPath, script, ...(options.args ?? [])];
  const limit = options.maxOpenFiles;
  const command = limit === undefined ? node : ['prlimit', `--nofile=${limit}:${limit}`, ...node];
  const child = spawn('ip', ['netns', 'exec', ns, ...command], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await within(iterator.next(), `the ready line of ${script}`, 15_000);
  if (first.done) throw new Error(`${script} exited before it was ready (exit code ${await exited})`);
  return {
    ready: JSON.parse(first.value) as Ready,
    async stop(): Promise<Final> {
      child.stdin.end();
      const last = await within(iterator.next(), `the final line of ${script}`, 15_000);
      const code = await within(exited, `${script} to exit`);
      if (last.done || code !== 0) throw new Error(`${script} ended badly (exit code ${code})`);
      return JSON.parse(last.value) as Final;
    },
  };
}
