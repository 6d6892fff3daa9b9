/**
 * `switchboard exec -- PROGRAM [ARGS...]`: one program per TCP connection, tcpserver style.
 *
 * Shutdown differs from the other commands: a graceful library close half-closes every session
 * at once, which would cut off what a program is still writing. So the servers are suspended
 * (listeners bound, new connections refused) while every program's process group gets SIGTERM
 * and each session ends when its program's output does; at the drain deadline the groups left
 * get SIGKILL, their sessions are destroyed and their pipes closed.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { SERVER_OPTIONS, parseCommandLine, valueFlags } from '../args.ts';
import { EXEC_DEFAULTS } from '../defaults.ts';
import { UsageError } from '../exit-code.ts';
import { ChildProcesses } from '../exec/children.ts';
import { createExecHandler } from '../exec/exec-handler.ts';
import { findProgram } from '../exec/find-program.ts';
import { findUser, type ProgramUser } from '../exec/find-user.ts';
import type { ExecProgram } from '../exec/child-link.ts';
import { flagOptions, readFlag } from '../settings.ts';
import { EXEC_HELP } from '../help.ts';
import { METRICS_OPTIONS, readMetricsFlag, withMetrics } from '../metrics-flags.ts';
import { ACTIVATION_OPTIONS, readActivationFlags, tcpEndpoints } from '../activation-flags.ts';
import { TLS_OPTIONS, readTlsFlags, tlsOptionsFrom, withTlsReload } from '../tls-flags.ts';
import { PROXY_OPTIONS, readProxyFlags, withProxyProtocol } from '../proxy-flags.ts';
import type { Logger } from '../logger.ts';
import type { ServerSet } from '../server-set.ts';
import type { Stoppable } from '../shutdown.ts';
import { packageVersion } from '../version.ts';
import { createLogger, printText, readServerSettings, serveEndpoints } from './common.ts';

/** `exec`'s flags. */
export const EXEC_OPTIONS = { ...SERVER_OPTIONS, ...TLS_OPTIONS, ...METRICS_OPTIONS, ...ACTIVATION_OPTIONS, ...PROXY_OPTIONS, ...flagOptions(['env', 'cwd', 'user']) } as const;

/** Runs `exec`; resolves with the exit code. @throws {UsageError} */
export async function execCommand(args: readonly string[]): Promise<number> {
  const [own, programArgs] = splitAtProgram(args);
  const { values } = parseCommandLine('exec', own, EXEC_OPTIONS, false);
  if (values.help) return printText(EXEC_HELP);
  if (values.version) return printText(packageVersion());
  const tlsFiles = readTlsFlags(values, 'exec');
  const proxyProtocol = readProxyFlags(values, 'exec');
  const settings = { ...readServerSettings(values, EXEC_DEFAULTS), ...(tlsFiles && { serverOptions: { tls: tlsOptionsFrom(tlsFiles, {}, 'exec') } }) };
  const planned = tcpEndpoints(readActivationFlags(values, 'exec'), 'exec');
  const [program, ...programRest] = programArgs;
  if (program === undefined || program === '') throw new UsageError('no PROGRAM given: switchboard exec --listen HOST:PORT -- PROGRAM [ARGS\u2026]', 'exec');
  const found = findProgram(program, process.env.PATH);
  if ('problem' in found) throw new UsageError(`PROGRAM ${JSON.stringify(program)}: ${found.problem}`, 'exec');
  const log = createLogger(values);

  const name = basename(program);
  const children = new ChildProcesses();
  const tcp = createExecHandler({ program, args: programRest, ...readProgramFlags(values) }, children, log, settings.drainTimeout);
  return serveEndpoints(() => planned(name, tcp), withProxyProtocol(settings, proxyProtocol), log, withMetrics(readMetricsFlag(values), log, withTlsReload(tlsFiles, undefined, log, { stoppable: (servers) => stopExec(servers, children, log) })));
}

/** `--env`, `--cwd`, `--user`. @throws {UsageError} */
function readProgramFlags(values: { readonly env?: string[] | undefined; readonly cwd?: string | undefined; readonly user?: string | undefined }): Omit<ExecProgram, 'program' | 'args'> {
  const env = values.env?.map((text) => readFlag<[string, string]>('env', text, ['', '']));
  const cwd = values.cwd === undefined ? undefined : readFlag('cwd', values.cwd, '');
  if (cwd !== undefined && !isDirectory(cwd)) throw new UsageError(`--cwd ${JSON.stringify(cwd)}: no such directory`, 'exec');
  let user: ProgramUser | undefined;
  if (values.user !== undefined) {
    const found = findUser(readFlag('user', values.user, ''));
    if ('problem' in found) throw new UsageError(`--user ${JSON.stringify(values.user)}: ${found.problem}`, 'exec');
    user = found.user;
  }
  return { ...(env && { env: Object.fromEntries(env) }), ...(cwd !== undefined && { cwd }), ...(user && { user }) };
}

/** Whether `path` is a directory. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** After SIGKILL at the drain deadline, how long to wait for the process groups to empty. */
const KILL_WAIT_MS = 2000;

/** See the module comment: refuse new connections, SIGTERM, wait, then SIGKILL and destroy. */
export function stopExec(servers: ServerSet, children: ChildProcesses, log: Logger): Stoppable {
  return {
    async close(timeout) {
      servers.suspend();
      children.terminateAll();
      const finished = await settleWithin(Promise.all([sessionsGone(servers), children.allExited()]), timeout);
      const sessions = servers.sessions;
      if (sessions > 0) log.warn('drain-timeout', `${sessions} session(s) still open at the drain deadline: closing them`, { sessions });
      const groups = children.runningGroups;
      if (groups.length > 0) log.warn('drain-timeout', `${groups.length} program(s) still running at the drain deadline: SIGKILL to process group(s) ${groups.join(', ')}`, { processGroups: groups.join(' ') });
      else if (children.size > 0) log.warn('drain-timeout', `${children.size} program(s) exited but their output is still held open (by a process that left its group): closing it`, { programs: children.size });
      await (sessions === 0 ? servers.close(0) : servers.destroy());
      children.killAll();
      if (!(await settleWithin(children.allExited(), KILL_WAIT_MS))) {
        const groups = children.runningGroups;
        log.warn('kill-timeout', `process group(s) ${groups.join(', ')} still running ${KILL_WAIT_MS / 1000}s after SIGKILL: not waiting for them`, { processGroups: groups.join(' ') });
        children.abandon();
      }
    },
    async destroy() {
      children.killAll();
      await servers.destroy();
    },
  };
}

/**
 * Splits at `--`, or else at the first argument that is not a flag or a flag's value: what
 * follows belongs to PROGRAM, flags included.
 */
export function splitAtProgram(args: readonly string[]): [string[], string[]] {
  const takesValue = valueFlags(EXEC_OPTIONS);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return [args.slice(0, i), args.slice(i + 1)];
    if (!arg.startsWith('-') || arg === '-') return [args.slice(0, i), args.slice(i)];
    if (takesValue.has(arg)) i++;
  }
  return [[...args], []];
}

/** Resolves once every server has no session left. */
function sessionsGone(servers: ServerSet): Promise<void> {
  return Promise.all(
    servers.endpoints.map(({ tcp }) => (tcp.stats().sessions === 0 ? undefined : new Promise<void>((resolve) => tcp.once('empty', resolve)))),
  ).then(() => undefined);
}

/** Whether `promise` settled within `ms`. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true as const), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
