/**
 * Network namespaces a test creates and removes itself (`ip netns`, as root): the only place a
 * test may use addresses outside loopback, and the way to get a host without IPv6.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespace tests need root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'network namespace tests need iproute2 (`ip netns`)';
  }
  return undefined;
}

/** Skips the test loudly when namespaces are not available; returns true when skipped. */
export function skipWithoutNetns(t: TestContext): boolean {
  const reason = netnsUnavailableReason();
  if (reason === undefined) return false;
  console.warn(`\n*** SKIPPED ${t.name}: ${reason} ***\n`);
  t.skip(reason);
  return true;
}

/** Options for a new namespace. */
export interface NetnsOptions {
  /** Disable IPv6 on every interface (a host without an IPv6 stack configured). */
  readonly disableIPv6?: boolean;
  /** Extra `ip` commands run inside the namespace after `lo` is up, e.g. `['link','add','d0','type','dummy']`. */
  readonly setup?: readonly (readonly string[])[];
}

/** Creates a namespace with `lo` up, removed again after the test; returns its name. */
export async function createNetns(t: TestContext, options: NetnsOptions = {}): Promise<string> {
  const name = `swb-${randomBytes(4).toString('hex')}`;
  await run('ip', ['netns', 'add', name]);
  t.after(() => run('ip', ['netns', 'del', name]).then(() => undefined));
  if (options.disableIPv6) {
    await run('ip', ['netns', 'exec', name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1', 'net.ipv6.conf.lo.disable_ipv6=1']);
  }
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  for (const command of options.setup ?? []) await run('ip', ['-n', name, ...command]);
  return name;
}

/**
 * Runs a Node script inside the namespace with this process's Node; resolves with its stdout
 * parsed as JSON (the script prints one JSON object). Bounded by `timeoutMs`.
 */
export async function runNodeInNetns<T>(name: string, script: string, args: readonly string[] = [], timeoutMs = 20_000): Promise<T> {
  const { stdout } = await run('ip', ['netns', 'exec', name, process.execPath, script, ...args], { timeout: timeoutMs });
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as T;
}
