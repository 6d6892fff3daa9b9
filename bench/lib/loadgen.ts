/**
 * The load generator from ../shared/tools/loadgen.c: build it into .cache/ when the
 * source is newer, assemble its command lines, and read its single RESULT line.
 */
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { BenchColumn } from './columns.ts';
import { runCommand } from './processes.ts';
import type { CommandResult } from './processes.ts';

/** Durations handed to loadgen, in seconds. */
export interface Timing {
  readonly warmup: number;
  readonly secs: number;
  /** tcp-idle only: how long the connections sit idle before RSS is read. */
  readonly settle: number;
}

function mtimeMs(file: string): number | null {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * Path to a loadgen binary built from `source`, compiling it into `cacheDir` when
 * missing or older than the source.
 * @throws Error when the source is missing or gcc fails.
 */
export async function ensureLoadgen(source: string, cacheDir: string, name = 'loadgen', libraries: readonly string[] = []): Promise<string> {
  const sourceTime = mtimeMs(source);
  if (sourceTime === null) throw new Error(`${name} source not found at ${source}`);
  const binary = path.join(cacheDir, name);
  const binaryTime = mtimeMs(binary);
  if (binaryTime !== null && binaryTime >= sourceTime) return binary;

  mkdirSync(cacheDir, { recursive: true });
  // Build beside the target and rename, so a concurrent run never executes half a file.
  const partial = `${binary}.${process.pid}.tmp`;
  const result = await runCommand('gcc', ['-O2', '-Wall', '-o', partial, source, ...libraries], 120_000);
  if (result.code !== 0) {
    rmSync(partial, { force: true });
    const why = result.timedOut ? 'timed out' : result.error?.message ?? `exit code ${result.code}`;
    throw new Error(`building ${name} with gcc failed (${why})\n${result.stderr}`);
  }
  renameSync(partial, binary);
  return binary;
}

/** loadgen arguments for one measurement of `column`; port and pid may be placeholders. */
export function loadgenArgs(column: BenchColumn, timing: Timing, port: string, pid: string): string[] {
  const durations =
    column.mode === 'tcp-idle'
      ? ['-S', String(timing.settle)]
      : ['-t', String(timing.secs), '-w', String(timing.warmup)];
  return [column.mode, '-p', port, ...column.args, ...durations, '-P', pid];
}

/**
 * Wall-clock bound for one loadgen run: its own watchdog fires at
 * warmup + secs + conn-timeout (30 s) + settle + 30 s; allow a little beyond that.
 */
export function loadgenTimeoutMs(timing: Timing): number {
  return (timing.warmup + timing.secs + timing.settle + 65) * 1000;
}

/** The key=value pairs of the `RESULT …` line, or null when there is none. */
export function parseResult(stdout: string): Record<string, string> | null {
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined) return null;
  const fields: Record<string, string> = {};
  for (const pair of line.slice('RESULT '.length).trim().split(/\s+/)) {
    const eq = pair.indexOf('=');
    if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return fields;
}

/** One measurement as read from loadgen, or why it is not usable. */
export type Sample =
  | { readonly ok: true; readonly value: number; readonly srvCpu: number | null; readonly lgCpu: number | null; readonly fields: Record<string, string> }
  | { readonly ok: false; readonly reason: string };

/** A sample that produced a figure. */
export type Measured = Extract<Sample, { ok: true }>;

function numberOrNull(text: string | undefined): number | null {
  const value = Number(text);
  return text === undefined || !Number.isFinite(value) ? null : value;
}

/**
 * Judge one loadgen run. A run counts only when loadgen exited 0 and reported no
 * errors and a positive figure: a stalled or failing server gets no number.
 */
export function sampleFrom(column: BenchColumn, run: CommandResult): Sample {
  const fields = parseResult(run.stdout);
  const lastError = run.stderr.trim().split('\n').at(-1) ?? '';
  if (run.timedOut) return { ok: false, reason: 'loadgen timed out and was killed' };
  if (fields === null) {
    return { ok: false, reason: `no RESULT line (exit ${run.code ?? run.signal}) ${lastError}`.trim() };
  }
  const errors = Number(fields.errors ?? 0);
  if (run.code !== 0 || errors > 0) {
    const counts = ['errors', 'conn_fail', 'verify_fail', 'eof', 'timeouts', 'held']
      .filter((k) => fields[k] !== undefined)
      .map((k) => `${k}=${fields[k]}`)
      .join(' ');
    return { ok: false, reason: `loadgen exit ${run.code}: ${counts} ${lastError}`.trim() };
  }
  const value = numberOrNull(fields[column.metric]);
  if (value === null || value <= 0) {
    return { ok: false, reason: `${column.metric}=${fields[column.metric]} (nothing was echoed?)` };
  }
  return { ok: true, value, srvCpu: numberOrNull(fields.srv_cpu), lgCpu: numberOrNull(fields.lg_cpu), fields };
}
