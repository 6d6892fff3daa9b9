/**
 * Process groups, by number: signalling one whether or not its leader is still alive, and
 * telling whether any of its processes is still running.
 *
 * `kill(-pgid, 0)` says whether the group has members, but a zombie is a member until its parent
 * reaps it, and an orphan's new parent may never do so (a container's PID 1 that is not an init,
 * or this very process when it is PID 1). A zombie holds no descriptor and runs no code, so on
 * Linux the group counts as empty once every member left is one: /proc says which they are.
 */
import { readFile, readdir } from 'node:fs/promises';

/**
 * Sends `signal` to every process of group `pgid`; false when the group has no process left
 * (ESRCH). A group whose processes we may not signal (EPERM: one changed its user) counts as live.
 */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Those of `pgids` that still have a process other than a zombie. One pass over /proc serves every
 * group; where /proc cannot be read (not Linux), a zombie counts as running.
 */
export async function runningProcessGroups(pgids: Iterable<number>): Promise<Set<number>> {
  const members = new Set<number>();
  for (const pgid of pgids) if (signalProcessGroup(pgid, 0)) members.add(pgid);
  if (members.size === 0) return members;
  const running = await runningGroupsFromProc(members);
  return running ?? members;
}

/** The groups among `candidates` with a member that is not a zombie, or undefined without /proc. */
async function runningGroupsFromProc(candidates: ReadonlySet<number>): Promise<Set<number> | undefined> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return undefined;
  }
  const running = new Set<number>();
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      let stat: string;
      try {
        stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      } catch {
        return; // exited since readdir
      }
      const process = parseProcStat(stat);
      if (process && candidates.has(process.pgrp) && !DEAD_STATES.has(process.state)) running.add(process.pgrp);
    }),
  );
  return running;
}

/** Zombie, and the dead states a process passes through on its way out (proc(5)). */
const DEAD_STATES = new Set(['Z', 'X', 'x']);

/** What `/proc/PID/stat` says of a process that matters here. */
export interface ProcStat {
  /** `R`, `S`, `D`, `Z` (zombie), ... (proc(5)). */
  readonly state: string;
  /** Parent process id. */
  readonly ppid: number;
  /** Process group id. */
  readonly pgrp: number;
}

/**
 * The state, parent and process group of a `/proc/PID/stat` line, or undefined if it is not one.
 * The command name is in parentheses and may itself contain spaces and parentheses, so the
 * fields are read after the last `)`.
 */
export function parseProcStat(stat: string): ProcStat | undefined {
  const end = stat.lastIndexOf(')');
  if (end === -1) return undefined;
  const [state, ppid, pgrp] = stat.slice(end + 1).trim().split(' ');
  if (state === undefined || !/^\d+$/.test(ppid ?? '') || !/^\d+$/.test(pgrp ?? '')) return undefined;
  return { state, ppid: Number(ppid), pgrp: Number(pgrp) };
}
