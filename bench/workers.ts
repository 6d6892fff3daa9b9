/**
 * `npm run bench -- --workers`: the echo module served by 1 and by 2 worker processes
 * (serveWorkers, mode reuseport) in the same run, alternating, against loadgen's `connect` and
 * `pp16` columns. The workers are pinned to CPU 0 and loadgen to CPU 1 (this machine has 2
 * cores), so the throughput of 2 workers cannot exceed one core's here; the figure that carries
 * over to a bigger machine is the work done per CPU-second of the workers (utime + stime of
 * every worker from /proc over the measured run). docs/workers.md says how it should scale.
 *
 *   node bench/workers.ts [--quick] [--rounds N]
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { columns } from './lib/columns.ts';
import { ensureLoadgen, loadgenArgs, loadgenTimeoutMs, sampleFrom } from './lib/loadgen.ts';
import { runCommand, startServer } from './lib/processes.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' }, workers: { type: 'boolean' } }, strict: true });
const timing = values.quick ? { warmup: 0.5, secs: 1.5, settle: 1 } : { warmup: 1, secs: 5, settle: 2 };
const rounds = Number(values.rounds ?? (values.quick ? 1 : 3));
const repoRoot = path.resolve(import.meta.dirname, '..');
const loadgen = await ensureLoadgen(path.resolve(repoRoot, '../shared/tools/loadgen.c'), path.join(repoRoot, '.cache'));
const script = path.join(repoRoot, 'bench/servers/switchboard-workers-echo.ts');
const CLK_TCK = 100; // Linux's USER_HZ

function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // exited
    }
  }
  return ticks / CLK_TCK;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const picked = columns.filter((column) => column.name === 'connect' || column.name === 'pp16');
const results = new Map<string, { rate: number[]; perCpu: number[]; cpu: number[] }>();

for (let round = 0; round < rounds; round++) {
  for (const workers of [1, 2]) {
    process.env.WORKERS = String(workers);
    const server = await startServer('taskset', ['-c', '0', process.execPath, '--conditions=switchboard-source', script], 30_000);
    const pids = (/WORKERS ([\d,]+)/.exec(server.stderr())?.[1] ?? '').split(',').map(Number).filter(Boolean);
    for (const column of picked) {
      const before = cpuSeconds(pids);
      const run = await runCommand('taskset', ['-c', '1', loadgen, ...loadgenArgs(column, timing, String(server.port), String(pids[0] ?? server.pid))], loadgenTimeoutMs(timing));
      const cpu = cpuSeconds(pids) - before;
      const sample = sampleFrom(column, run);
      const key = `${column.name} ${workers}`;
      const entry = results.get(key) ?? { rate: [], perCpu: [], cpu: [] };
      if (sample.ok) {
        entry.rate.push(sample.value);
        // The CPU was read over warmup + run: scale the work done to that window.
        entry.perCpu.push((sample.value * (timing.secs + timing.warmup)) / Math.max(cpu, 0.01));
        entry.cpu.push(cpu / (timing.secs + timing.warmup));
      } else process.stderr.write(`${key}: ${sample.reason}\n`);
      results.set(key, entry);
    }
    await server.stop();
  }
}

process.stdout.write(`workers bench: Node ${process.versions.node}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${rounds} round(s); workers on CPU 0, loadgen on CPU 1\n`);
process.stdout.write(`${'column'.padEnd(9)}${'workers'.padStart(8)}${'rate (median)'.padStart(16)}${'per worker-CPU-s'.padStart(18)}${'worker CPU'.padStart(12)}\n`);
for (const column of picked) {
  for (const workers of [1, 2]) {
    const entry = results.get(`${column.name} ${workers}`);
    if (!entry || entry.rate.length === 0) continue;
    process.stdout.write(`${column.name.padEnd(9)}${String(workers).padStart(8)}${`${Math.round(median(entry.rate))} ${column.unit}`.padStart(16)}${String(Math.round(median(entry.perCpu))).padStart(18)}${`${Math.round(median(entry.cpu) * 100)} %`.padStart(12)}\n`);
  }
}
