/**
 * Runs the `switchboard` command as a child process for a test: collects its output by line,
 * waits (always with a bound) for lines and for its exit, parses its `listening` lines, and
 * kills it after the test if it is still running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { within } from '../helpers/net.ts';

/** The CLI's entry point, run as TypeScript. */
export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** Node's flags for it: `switchboard` (as the examples import it) is this checkout's src/index.ts, as under the npm scripts. */
export const NODE_FLAGS = ['--conditions=switchboard-source'] as const;
/** The repository root (working directory of the child). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One `listening tcp 127.0.0.1:10007 echo` line. */
export interface Listening {
  readonly transport: 'tcp' | 'udp';
  /** Unbracketed. */
  readonly host: string;
  readonly port: number;
  readonly name: string;
  /** For a socket the service manager passed: `fd 3 "echo"`. */
  readonly passed?: string;
}

/** Lines of one output stream, with waits on them. */
export class LineCollector {
  readonly lines: string[] = [];
  #partial = '';
  #waiters: (() => void)[] = [];
  #ended = false;

  push(text: string): void {
    const parts = (this.#partial + text).split('\n');
    this.#partial = parts.pop() ?? '';
    this.lines.push(...parts);
    this.#wake();
  }

  end(): void {
    if (this.#partial !== '') this.lines.push(this.#partial);
    this.#partial = '';
    this.#ended = true;
    this.#wake();
  }

  /** Everything so far, as text. */
  get text(): string {
    return this.lines.join('\n');
  }

  /** Resolves with the first line matching `pattern` (searching from line `from`). */
  async waitFor(pattern: RegExp, what = String(pattern), ms?: number, from = 0): Promise<string> {
    const found = await within(
      new Promise<string | undefined>((resolve) => {
        const check = (): void => {
          const line = this.lines.slice(from).find((candidate) => pattern.test(candidate));
          if (line !== undefined || this.#ended) resolve(line);
          else this.#waiters.push(check);
        };
        check();
      }),
      what,
      ms,
    );
    if (found === undefined) throw new Error(`output ended without ${what}; got:\n${this.text}`);
    return found;
  }

  /** Resolves once `count` lines match `pattern`. */
  async waitForCount(pattern: RegExp, count: number, what: string, ms?: number): Promise<string[]> {
    return within(
      new Promise<string[]>((resolve, reject) => {
        const check = (): void => {
          const matching = this.lines.filter((line) => pattern.test(line));
          if (matching.length >= count) resolve(matching);
          else if (this.#ended) reject(new Error(`output ended with ${matching.length} of ${count} ${what}; got:\n${this.text}`));
          else this.#waiters.push(check);
        };
        check();
      }),
      `${count} ${what}`,
      ms,
    );
  }

  /** Resolves once `condition` holds for the lines so far (checked as lines arrive). */
  async waitUntil(condition: (lines: readonly string[]) => boolean, what: string, ms?: number): Promise<void> {
    await within(
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (condition(this.lines)) resolve();
          else if (this.#ended) reject(new Error(`output ended without ${what}; got:\n${this.text}`));
          else this.#waiters.push(check);
        };
        check();
      }),
      what,
      ms,
    );
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

/** How the child ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running `switchboard`. */
export class CliProcess {
  readonly child: ChildProcess;
  readonly stdout = new LineCollector();
  readonly stderr = new LineCollector();
  readonly exited: Promise<Exit>;

  /** @param prefix a command that runs the CLI, such as `['ip', 'netns', 'exec', NS]`; it must exec it (keep its pid) */
  constructor(args: readonly string[], env: NodeJS.ProcessEnv, prefix: readonly string[] = []) {
    const [command, ...rest] = [...prefix, process.execPath, ...NODE_FLAGS, MAIN, ...args];
    this.child = spawn(command!, rest, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => this.stdout.push(text));
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => this.stderr.push(text));
    this.child.stdout!.on('end', () => this.stdout.end());
    this.child.stderr!.on('end', () => this.stderr.end());
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
  }

  /** Waits for `count` listening lines and parses them. */
  async listening(count: number, ms?: number): Promise<Listening[]> {
    const lines = await this.stdout.waitForCount(/^listening /, count, 'listening lines', ms).catch((error: Error) => {
      throw new Error(`${error.message}\nstderr:\n${this.stderr.text}`);
    });
    return lines.map(parseListening);
  }

  /** The one listening socket of `name` over `transport` (and family, by host). */
  static find(listening: readonly Listening[], name: string, transport: 'tcp' | 'udp' = 'tcp', host?: string): Listening {
    const found = listening.find((entry) => entry.name === name && entry.transport === transport && (host === undefined || entry.host === host));
    if (!found) throw new Error(`no ${transport} listener for ${name}${host ? ` on ${host}` : ''} in ${JSON.stringify(listening)}`);
    return found;
  }

  /** Sends a signal. */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Waits for the exit (bounded). */
  exit(ms?: number): Promise<Exit> {
    return within(this.exited, 'switchboard to exit', ms);
  }

  /** Sends SIGTERM and waits for the exit. */
  async stop(ms?: number): Promise<Exit> {
    this.signal('SIGTERM');
    return this.exit(ms);
  }
}

/** Parses `listening tcp [::1]:10007 echo`, or `listening tcp 127.0.0.1:7 echo (systemd fd 3 "echo")`. */
export function parseListening(line: string): Listening {
  const match = /^listening (tcp|udp) (\[[^\]]+\]|[^\s:]+):(\d+) (\S+)(?: \(systemd (fd \d+ "[^"]*")\))?$/.exec(line);
  if (!match) throw new Error(`not a listening line: ${JSON.stringify(line)}`);
  const [, transport, host = '', port, name = '', passed] = match;
  return { transport: transport as 'tcp' | 'udp', host: host.replace(/^\[|\]$/g, ''), port: Number(port), name, ...(passed === undefined ? {} : { passed }) };
}

/**
 * Starts `switchboard ARGS…` (through `prefix`, see {@link CliProcess}); killed after the test if
 * still running. NO_COLOR is set unless `env` says otherwise.
 */
export function startCli(t: TestContext, args: readonly string[], env: NodeJS.ProcessEnv = {}, prefix: readonly string[] = []): CliProcess {
  const cli = new CliProcess(args, { ...process.env, NO_COLOR: '1', ...env }, prefix);
  t.after(async () => {
    if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
    await within(cli.exited, 'switchboard to exit after the test');
  });
  return cli;
}

/** Runs `switchboard ARGS…` to completion (for usage errors, --help, --version). */
export async function runCliToExit(t: TestContext, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Exit & { stdout: string; stderr: string }> {
  const cli = startCli(t, args, env);
  const exit = await cli.exit(); // 'close': every byte of output has been read
  return { ...exit, stdout: cli.stdout.text, stderr: cli.stderr.text };
}

/** Whether a Debian program is on PATH. */
export function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}
