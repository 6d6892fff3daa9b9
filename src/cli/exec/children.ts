/**
 * The programs `exec` has running. Each runs in its own process group (so a terminal's Ctrl-C
 * reaches us, not them, and the shutdown order stays ours), and is stopped as a group: SIGTERM,
 * then SIGKILL when the grace period ends.
 */
import type { ChildProcess } from 'node:child_process';

/** Live child processes, and how to stop them. */
export class ChildProcesses {
  readonly #live = new Set<ChildProcess>();
  readonly #waiters: (() => void)[] = [];

  /** Running children. */
  get size(): number {
    return this.#live.size;
  }

  /** Tracks a started child until it exits. */
  add(child: ChildProcess): void {
    this.#live.add(child);
    child.once('exit', () => {
      this.#live.delete(child);
      if (this.#live.size > 0) return;
      for (const resolve of this.#waiters.splice(0)) resolve();
    });
  }

  /** SIGTERM now, SIGKILL after `graceMs` unless it has exited. */
  terminate(child: ChildProcess, graceMs: number): void {
    if (!isRunning(child)) return;
    signalGroup(child, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
    timer.unref();
    child.once('exit', () => clearTimeout(timer));
  }

  /** {@link terminate} for every child. */
  terminateAll(graceMs: number): void {
    for (const child of this.#live) this.terminate(child, graceMs);
  }

  /** SIGKILL for every child. */
  killAll(): void {
    for (const child of this.#live) signalGroup(child, 'SIGKILL');
  }

  /** Resolves once no child is running. */
  allExited(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** Signals the child's process group (it leads one: spawned `detached`), or the child alone. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!isRunning(child)) return;
  try {
    process.kill(-child.pid!, signal);
  } catch {
    child.kill(signal);
  }
}
