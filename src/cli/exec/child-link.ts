/**
 * One connection joined to one program: the socket's bytes to the program's stdin and the
 * program's stdout to the socket, with backpressure both ways (each side pauses the other while
 * its buffer is full). The program's stderr goes to the log, line by line, without terminal
 * controls (a program's output must not drive the operator's terminal).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { EventSession } from '../../index.ts';
import { formatListenAddress } from '../listen-address.ts';
import { stripControls, type Logger } from '../logger.ts';
import type { ChildProcesses } from './children.ts';
import { ucspiEnvironment } from './ucspi-env.ts';

/** The program to run per connection. */
export interface ExecProgram {
  readonly program: string;
  readonly args: readonly string[];
  /** Variables set on top of ours (`--env`). */
  readonly env?: Readonly<Record<string, string>>;
  /** Its working directory (`--cwd`); ours when left out. */
  readonly cwd?: string;
  /** The user to run it as (`--user`, as root). */
  readonly user?: { readonly uid: number; readonly gid: number };
}

/** A stderr line longer than this is logged in pieces. */
const MAX_STDERR_LINE = 4096;

/** The program behind one session. */
export class ChildLink {
  readonly #session: EventSession;
  readonly #log: Logger;
  readonly #peer: string;
  readonly #child: ChildProcess | undefined;
  #outputEnded = false;

  constructor(session: EventSession, command: ExecProgram, children: ChildProcesses, log: Logger) {
    this.#session = session;
    this.#log = log;
    this.#peer = formatListenAddress(session.remoteAddress, session.remotePort);
    let child: ChildProcess;
    try {
      child = spawn(command.program, [...command.args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: ucspiEnvironment(session, command.env === undefined ? process.env : { ...process.env, ...command.env }),
        detached: true,
        ...(command.cwd === undefined ? {} : { cwd: command.cwd }),
        ...(command.user === undefined ? {} : { uid: command.user.uid, gid: command.user.gid }),
      });
    } catch (error) {
      this.#startFailed(command.program, error);
      return;
    }
    this.#child = child;
    child.once('error', (error) => {
      if (child.pid === undefined) this.#startFailed(command.program, error);
      else log.error('exec-error', `${command.program} (pid ${child.pid}, ${this.#peer}): ${error.message}`, { pid: child.pid });
    });
    child.once('spawn', () => {
      children.add(child);
      log.info('start', `start pid ${child.pid} ${command.program} for ${this.#peer}`, this.#fields({ pid: child.pid, program: command.program }));
    });
    child.once('exit', (code, signal) => this.#exited(child.pid, code, signal));
    // The program may exit without reading its input: EPIPE on its stdin is expected then.
    child.stdin!.on('error', () => session.resume());
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!session.write(chunk)) child.stdout!.pause();
    });
    child.stdout!.once('end', () => {
      this.#outputEnded = true;
      session.end();
    });
    logLines(child.stderr!, (line) => log.warn('stderr', `pid ${child.pid}: ${line}`, this.#fields({ pid: child.pid, line })));
  }

  /** Bytes from the peer for the program; reading pauses until the program has taken them. */
  fromPeer(chunk: Buffer): void {
    const stdin = this.#child?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return;
    if (!stdin.write(chunk)) {
      this.#session.pause();
      stdin.once('drain', () => this.#session.resume());
    }
  }

  /** The socket can take more of the program's output. */
  resumeOutput(): void {
    this.#child?.stdout?.resume();
  }

  /** The peer sent FIN: the program sees end of input. */
  peerEnded(): void {
    const stdin = this.#child?.stdin;
    if (stdin && !stdin.destroyed) stdin.end();
    else if (!this.#child) this.#session.end();
  }

  /**
   * The connection closed. A program still writing to it (the peer reset, the session timed out,
   * the server was destroyed) is stopped; one that finished its output is left to exit.
   */
  connectionClosed(children: ChildProcesses, graceMs: number): void {
    const child = this.#child;
    if (!child) return;
    child.stdin?.destroy();
    child.stdout?.destroy();
    if (!this.#outputEnded) children.terminate(child, graceMs);
  }

  #startFailed(program: string, error: unknown): void {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such program' : code === 'EACCES' ? 'permission denied' : error instanceof Error ? error.message : String(error);
    this.#log.error('exec-failed', `cannot start ${program} for ${this.#peer}: ${reason}${code ? ` (${code})` : ''}`, this.#fields({ program, code }));
    this.#session.end(); // a clean close: the peer sees end of stream, the server carries on
  }

  #exited(pid: number | undefined, code: number | null, signal: NodeJS.Signals | null): void {
    const how = signal ? `killed by ${signal}` : `status ${code}`;
    const fields = this.#fields({ pid, status: code, signal });
    if (code === 0) this.#log.info('exit', `exit pid ${pid} ${how} for ${this.#peer}`, fields);
    else this.#log.warn('exit', `exit pid ${pid} ${how} for ${this.#peer}`, fields);
  }

  #fields(extra: Record<string, string | number | null | undefined>): Record<string, string | number | null | undefined> {
    return { remoteAddress: this.#session.remoteAddress, remotePort: this.#session.remotePort, ...extra };
  }
}

/** Calls `onLine` for each line of `stream` (without its newline or controls), cutting very long lines. */
function logLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      onLine(stripControls(pending.slice(0, newline)));
      pending = pending.slice(newline + 1);
    }
    while (pending.length > MAX_STDERR_LINE) {
      onLine(stripControls(pending.slice(0, MAX_STDERR_LINE)));
      pending = pending.slice(MAX_STDERR_LINE);
    }
  });
  stream.on('end', () => {
    if (pending !== '') onLine(stripControls(pending));
  });
}
