import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid is running (signal 0: nothing is sent). A zombie — exited, its
 * sockets and memory released, its entry waiting for its parent to reap it — is not: an orphan's
 * is reaped by pid 1 whenever pid 1 gets to it (seconds, under some container inits), which says
 * nothing about when the process itself finished.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/PID/stat: `pid (comm) state …`; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux'; // gone between the two looks, or no /proc to tell
  }
}
