/**
 * The programs `exec` has running. Each runs in its own process group (so a terminal's Ctrl-C
 * reaches us, not them, and the shutdown order stays ours), and is stopped as a group: SIGTERM,
 * then SIGKILL when the grace period ends.
 *
 * A program is tracked until its process group is empty *and* its stdio has closed: a shell that
 * started `sleep 60 &` and exited leaves the sleep holding its pipes, in its group. Signals go to
 * the group whether or not its leader is still alive. Once the leader has exited, the group is
 * probed on a bounded schedule (10 ms, doubling to 1 s) until no process of it is left running.
 */
import type { ChildProcess } from 'node:child_process';
import { runningProcessGroups, signalProcessGroup } from './process-group.ts';

const FIRST_PROBE_MS = 10;
const MAX_PROBE_MS = 1000;

/** One started program and what is left of it. */
interface Program {
  readonly child: ChildProcess;
  /** The child leads its group (spawned `detached`: setsid). */
  readonly pgid: number;
  leaderExited: boolean;
  groupEmpty: boolean;
  stdioClosed: boolean;
  killTimer: NodeJS.Timeout | undefined;
}

/** Live programs, and how to stop them. */
export class ChildProcesses {
  readonly #programs = new Map<ChildProcess, Program>();
  readonly #waiters: (() => void)[] = [];
  #probeTimer: NodeJS.Timeout | undefined;
  #probeDelay = FIRST_PROBE_MS;
  #probing = false;
  #probeAgain = false;

  /** Programs whose process group still runs or whose stdio is still open. */
  get size(): number {
    return this.#programs.size;
  }

  /** The process groups with a process still running (or not yet known to have none). */
  get runningGroups(): number[] {
    return [...this.#programs.values()].filter((program) => !program.groupEmpty).map((program) => program.pgid);
  }

  /** Tracks a started child until its group is empty and its stdio closed. */
  add(child: ChildProcess): void {
    const pgid = child.pid!;
    // The kernel hands out a number that is still some group's id to no new process: a group
    // we still track under this number must have emptied before we saw it.
    for (const program of this.#programs.values()) if (program.pgid === pgid) this.#groupGone(program);
    const program: Program = { child, pgid, leaderExited: false, groupEmpty: false, stdioClosed: false, killTimer: undefined };
    this.#programs.set(child, program);
    child.once('exit', () => {
      program.leaderExited = true;
      this.#probeSoon();
    });
    child.once('close', () => {
      program.stdioClosed = true;
      this.#settle(program);
    });
  }

  /** SIGTERM to the child's group now, SIGKILL after `graceMs` unless the group has emptied. */
  terminate(child: ChildProcess, graceMs: number): void {
    const program = this.#programs.get(child);
    if (!program || program.groupEmpty || program.killTimer) return;
    if (!this.#signal(program, 'SIGTERM')) return;
    program.killTimer = setTimeout(() => this.#signal(program, 'SIGKILL'), graceMs);
    program.killTimer.unref();
  }

  /** SIGTERM to every group. */
  terminateAll(): void {
    for (const program of this.#programs.values()) this.#signal(program, 'SIGTERM');
    this.#probeSoon();
  }

  /**
   * SIGKILL to every group, and stop reading every program's output: whatever still holds its
   * pipes (a process that left the group, say) can no longer keep us waiting.
   */
  killAll(): void {
    for (const program of this.#programs.values()) {
      this.#signal(program, 'SIGKILL');
      const { stdin, stdout, stderr } = program.child;
      stdin?.destroy();
      stdout?.destroy();
      stderr?.destroy();
    }
    this.#probeSoon();
  }

  /**
   * Stops tracking what is left (a process we may not signal, one stuck in the kernel), so it
   * no longer keeps this process alive.
   */
  abandon(): void {
    clearTimeout(this.#probeTimer);
    for (const program of this.#programs.values()) {
      clearTimeout(program.killTimer);
      program.child.unref();
    }
    this.#programs.clear();
    this.#wake();
  }

  /** Resolves once every program's group is empty and its stdio closed. */
  allExited(): Promise<void> {
    if (this.#programs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Signals the program's group; false (and the group counts as gone) when it has no process left. */
  #signal(program: Program, signal: NodeJS.Signals): boolean {
    if (program.groupEmpty) return false;
    if (signalProcessGroup(program.pgid, signal)) return true;
    this.#groupGone(program);
    return false;
  }

  /** Probes soon, from the shortest delay: something just changed. */
  #probeSoon(): void {
    this.#probeDelay = FIRST_PROBE_MS;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    void this.#probe();
  }

  async #probe(): Promise<void> {
    if (this.#probing) {
      this.#probeAgain = true;
      return;
    }
    const waiting = [...this.#programs.values()].filter((program) => program.leaderExited && !program.groupEmpty);
    if (waiting.length === 0) return;
    this.#probing = true;
    let running: Set<number>;
    try {
      running = await runningProcessGroups(waiting.map((program) => program.pgid));
    } finally {
      this.#probing = false;
    }
    for (const program of waiting) if (!running.has(program.pgid)) this.#groupGone(program);
    if (this.#probeAgain) {
      this.#probeAgain = false;
      void this.#probe();
      return;
    }
    if (!waiting.some((program) => !program.groupEmpty)) return;
    // Unref'd: while serving the listeners keep us alive, and a shutdown waits with a bound of its own.
    this.#probeTimer = setTimeout(() => void this.#probe(), this.#probeDelay);
    this.#probeTimer.unref();
    this.#probeDelay = Math.min(this.#probeDelay * 2, MAX_PROBE_MS);
  }

  #groupGone(program: Program): void {
    program.groupEmpty = true;
    clearTimeout(program.killTimer);
    this.#settle(program);
  }

  #settle(program: Program): void {
    if (!program.groupEmpty || !program.stdioClosed) return;
    this.#programs.delete(program.child);
    if (this.#programs.size === 0) this.#wake();
  }

  #wake(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}
