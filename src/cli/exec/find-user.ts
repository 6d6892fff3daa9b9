/**
 * The user an exec program runs as (`--user`, `user = "..."`): a name looked up in /etc/passwd, or
 * a numeric uid, with that user's primary group. Only a process started as root may change
 * user, so asking for one otherwise is a mistake said before anything binds.
 */
import { readFileSync } from 'node:fs';

/** A user to run programs as. */
export interface ProgramUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/**
 * The user `spec` names, or why it cannot be used.
 * @param passwd the text of /etc/passwd (read when left out)
 * @example
 * findUser('nobody'); // { user: { name: 'nobody', uid: 65534, gid: 65534 } }
 */
export function findUser(spec: string, passwd?: string, euid = process.geteuid?.()): { readonly user: ProgramUser } | { readonly problem: string } {
  if (euid !== 0) return { problem: 'changing user needs switchboard started as root' };
  let table: string;
  try {
    table = passwd ?? readFileSync('/etc/passwd', 'utf8');
  } catch (error) {
    return { problem: `cannot read /etc/passwd: ${(error as Error).message}` };
  }
  const numeric = /^\d+$/.test(spec);
  for (const line of table.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === undefined || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    if (numeric ? uid === spec : name === spec) return { user: { name, uid: Number(uid), gid: Number(gid) } };
  }
  if (numeric) return { user: { name: spec, uid: Number(spec), gid: Number(spec) } };
  return { problem: 'no such user' };
}
