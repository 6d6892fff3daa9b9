/**
 * Child processes with bounds: every child has a deadline and is killed on overrun,
 * and whatever is still alive when the runner exits (normally, on error, on a signal)
 * is killed with it, so a benchmark never leaves stray servers behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

/** SIGKILL every child still running; synchronous so it works inside an 'exit' handler. */
export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.stderr.write(`\nbench: interrupted by ${signal}, children killed\n`);
    process.exit(130);
  });
}

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  // A spawn failure (ENOENT) is reported through `exited`; keep it from being uncaught.
  child.once('error', () => live.delete(child));
  return child;
}

/** How a child ended. `code` is null when it was killed by a signal or never started. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
}

/** Keep only the last `limit` characters of a stream: enough for a diagnostic. */
function tail(stream: NodeJS.ReadableStream | null, limit = 4000): () => string {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text;
}

/** The line of a stderr dump that says what went wrong: the first naming an error, else the last. */
export function headline(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.find((line) => /^\w*Error\b/.test(line)) ?? lines.at(-1) ?? '';
}

/** What a bounded command printed and how it ended. */
export interface CommandResult extends Exit {
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Run a command to completion, SIGKILLing it if it runs past `timeoutMs`. */
export async function runCommand(
  command: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<CommandResult> {
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const stdout = tail(child.stdout, 64_000);
  const stderr = tail(child.stderr);
  const exit = await exitWithin(child, timeoutMs);
  return { ...exit, stdout: stdout(), stderr: stderr() };
}

/** Run a command with the runner's own stdout/stderr, SIGKILLing it past `timeoutMs`. */
export async function runInherited(
  command: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<Exit & { readonly timedOut: boolean }> {
  const child = track(spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] }));
  return exitWithin(child, timeoutMs);
}

/** Waits for `child` to exit, SIGKILLing it past `timeoutMs`. */
async function exitWithin(child: ChildProcess, timeoutMs: number): Promise<Exit & { readonly timedOut: boolean }> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const exit = await exitOf(child);
  clearTimeout(timer);
  return { ...exit, timedOut };
}

/** A running bench server that printed `READY <port>`. */
export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** Settles when the process has exited, however that happened. */
  readonly exited: Promise<Exit>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** The last few KiB the server wrote to stderr. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit and whether it was forced. */
  stop(graceMs?: number): Promise<Exit & { readonly forced: boolean }>;
}

function waitFor<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Start a server and wait (at most `readyTimeoutMs`) for its `READY <port>` line. */
export async function startServer(
  command: string,
  args: readonly string[],
  readyTimeoutMs: number,
): Promise<ServerProcess> {
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const exited = exitOf(child);
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const stderr = tail(child.stderr);

  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    let settled = false;
    const settle = (port: number | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (typeof port === 'number') return resolve(port);
      child.kill('SIGKILL');
      const detail = headline(stderr());
      reject(detail ? new Error(`${port.message}: ${detail}`) : port);
    };
    const timer = setTimeout(
      () => settle(new Error(`no READY line within ${readyTimeoutMs} ms`)),
      readyTimeoutMs,
    );
    child.stdout?.setEncoding('utf8');
    // The listener stays after READY so a chatty server never blocks on a full pipe.
    child.stdout?.on('data', (chunk: string) => {
      if (settled) return;
      stdout += chunk;
      const match = /^READY (\d+)\r?$/m.exec(stdout);
      if (match) settle(Number(match[1]));
    });
    void exited.then((exit) =>
      settle(
        new Error(
          exit.error
            ? `could not start: ${exit.error.message}`
            : `exited before READY (code ${exit.code}, signal ${exit.signal})`,
        ),
      ),
    );
  });

  return {
    pid: child.pid ?? -1,
    port,
    exited,
    hasExited: () => done,
    stderr,
    async stop(graceMs = 3000) {
      if (!done) child.kill('SIGTERM');
      const exit = await waitFor(exited, graceMs);
      if (exit !== undefined) return { ...exit, forced: false };
      child.kill('SIGKILL');
      return { ...(await exited), forced: true };
    },
  };
}

/** True when `command args…` can be run and exits 0 (used to probe for taskset). */
export function commandWorks(command: string, args: readonly string[]): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 5000 });
  return result.status === 0;
}
