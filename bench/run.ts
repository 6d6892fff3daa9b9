/**
 * `npm run bench`: every bench server against the same-run raw baseline, driven by
 * ../shared/tools/loadgen.c. Servers are pinned to CPU 0 and loadgen to CPU 1; within
 * each round the servers of a column run one after the other (A B C A B C …), each in
 * a fresh process; the report gives medians, min–max and ratios. See docs/benchmarks.md.
 *
 *   node bench/run.ts [--quick] [--rounds N] [--only SELECTOR[,SELECTOR…]] [--nodelay] [--out DIR] [--profile]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { columnMatches, columns, isTlsColumn, usesTlsLoadgen } from './lib/columns.ts';
import type { BenchColumn } from './lib/columns.ts';
import { ensureLoadgen, loadgenArgs, loadgenTimeoutMs, sampleFrom } from './lib/loadgen.ts';
import type { Sample, Timing } from './lib/loadgen.ts';
import { commandWorks, headline, runCommand, runInherited, startServer } from './lib/processes.ts';
import { formatColumn, formatSaturationNote, formatVerdicts } from './lib/report.ts';
import type { Results, Verdict } from './lib/report.ts';
import { writeResults } from './lib/results-file.ts';
import type { ColumnSummary } from './lib/results-file.ts';
import { servers } from './lib/servers.ts';
import { ensureBenchCertificate } from './lib/tls-material.ts';
import type { BenchServer } from './lib/servers.ts';

const USAGE = `usage: node bench/run.ts [options]

  --quick             1 round with short durations (about 1–2 minutes)
  --rounds N          rounds of alternation (default 3; 1 with --quick)
  --only LIST         comma-separated selectors, repeatable:
                        a column: ${columns.map((c) => c.name).join(', ')}
                        a group: tcp, udp, tls, tcp-lines, tcp-echo, tcp-connect, tcp-idle, udp-echo,
                          tls-echo (TLS: load from bench/lib/tls-loadgen.c, C against OpenSSL);
                          the column proxy-connect: a PROXY listener against a plain one
                        a server: ${servers.map((s) => s.name).join(', ')}
                          (its baseline is added)
                        codecs: bench/codecs.ts
                        proxy: bench/proxy.ts (PROXY header parse cost)
                        memory: bench/memory.ts (heap and RSS per idle session, bytes allocated per echo)
  --workers           only bench/workers.ts: 1 and 2 worker processes (connect, pp16, per worker-CPU-second)
  --nodelay           TCP_NODELAY on the servers' sockets, raw and Switchboard alike (loadgen always sets it)
  --out DIR           where results.json and ratios.svg go (default .cache/bench/)
  --secs S            measured seconds per sample (default 5; 1.5 with --quick)
  --warmup S          warm-up seconds per sample (default 1; 0.5 with --quick)
  --profile           run servers under node --cpu-prof; profiles go to .cache/profiles/
                      (figures are then slower and not comparable with a normal run)
  -h, --help          this text`;

const SERVER_CPU = '0';
const LOADGEN_CPU = '1';
const READY_TIMEOUT_MS = 15_000;
/** The pure-CPU benches that run after the socket columns, each its own section, and their bounds. */
const SCRIPT_SECTIONS = [
  { name: 'codecs', script: 'bench/codecs.ts', timeoutMs: { full: 600_000, quick: 180_000 } },
  { name: 'proxy', script: 'bench/proxy.ts', timeoutMs: { full: 300_000, quick: 120_000 } },
  { name: 'memory', script: 'bench/memory.ts', timeoutMs: { full: 600_000, quick: 180_000 } },
] as const;
const sectionNames: ReadonlySet<string> = new Set(SCRIPT_SECTIONS.map((section) => section.name));
const TIMINGS: Record<'full' | 'quick', Timing & { rounds: number }> = {
  full: { rounds: 3, warmup: 1, secs: 5, settle: 2 },
  quick: { rounds: 1, warmup: 0.5, secs: 1.5, settle: 1 },
};

const repoRoot = path.resolve(import.meta.dirname, '..');
const cacheDir = path.join(repoRoot, '.cache');
const loadgenSource = path.resolve(repoRoot, '../shared/tools/loadgen.c');
/** The TLS columns' load side, in C against OpenSSL (libssl-dev). */
const tlsLoadgenSource = path.join(repoRoot, 'bench/lib/tls-loadgen.c');
const libraryIndex = path.join(repoRoot, 'src/index.ts');

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function parseOptions() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        only: { type: 'string', multiple: true },
        profile: { type: 'boolean', default: false },
        workers: { type: 'boolean', default: false },
        nodelay: { type: 'boolean', default: false },
        out: { type: 'string' },
        secs: { type: 'string' },
        warmup: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    fail(`${(error as Error).message}\n\n${USAGE}`);
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (parsed.workers) {
    // Its own runner (bench/workers.ts), with the same --quick and --rounds.
    const args = [path.join(import.meta.dirname, 'workers.ts'), ...(parsed.quick ? ['--quick'] : []), ...(parsed.rounds === undefined ? [] : ['--rounds', parsed.rounds])];
    process.exit(spawnSync(process.execPath, args, { stdio: 'inherit' }).status ?? 1);
  }
  const mode = parsed.quick ? 'quick' : 'full';
  const rounds = parsed.rounds === undefined ? TIMINGS[mode].rounds : Number(parsed.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 60) {
    fail(`--rounds must be an integer in 1..60, got ${parsed.rounds}`);
  }
  const selectors = (parsed.only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const seconds = (name: 'secs' | 'warmup', fallback: number): number => {
    const text = parsed[name];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || value > 600) fail(`--${name} must be a number of seconds in (0, 600], got ${text}`);
    return value;
  };
  const timing: Timing = { ...TIMINGS[mode], secs: seconds('secs', TIMINGS[mode].secs), warmup: seconds('warmup', TIMINGS[mode].warmup) };
  const outDir = parsed.out === undefined ? path.join(cacheDir, 'bench') : path.resolve(parsed.out);
  return { mode, rounds, timing, selectors, cpuProfile: parsed.profile, noDelay: parsed.nodelay, outDir } as const;
}

/** Columns and servers named by `--only`; with no selector of a sort, all of that sort. */
function select(selectors: readonly string[]) {
  const serverNames = new Set(servers.map((s) => s.name));
  const columnSelectors = selectors.filter((s) => !serverNames.has(s) && !sectionNames.has(s));
  const serverSelectors = selectors.filter((s) => serverNames.has(s));
  for (const selector of columnSelectors) {
    if (!columns.some((c) => columnMatches(c, selector))) fail(`--only: nothing is called ${selector}\n\n${USAGE}`);
  }
  const chosenServers = new Set<string>();
  for (const name of serverSelectors) {
    chosenServers.add(name);
    const baseline = servers.find((s) => s.name === name)?.baseline;
    if (baseline) chosenServers.add(baseline);
  }
  const onlySections = selectors.length > 0 && selectors.every((s) => sectionNames.has(s));
  const selectedColumns = onlySections
    ? []
    : columns.filter((c) => columnSelectors.length === 0 || columnSelectors.some((s) => columnMatches(c, s)));
  const selectedServers = servers.filter((s) => (chosenServers.size === 0 ? s.optIn !== true : chosenServers.has(s.name)));
  return {
    columns: selectedColumns,
    servers: selectedServers,
    sections: SCRIPT_SECTIONS.filter((section) => selectors.length === 0 || selectors.includes(section.name)),
  };
}

/** Why a server cannot run yet (its library exports are missing), or null when it can. */
async function unavailableReason(server: BenchServer): Promise<string | null> {
  if (!server.requires || server.requires.length === 0) return null;
  if (!existsSync(libraryIndex)) return 'src/index.ts does not exist yet';
  let library: Record<string, unknown>;
  try {
    library = await import(pathToFileURL(libraryIndex).href);
  } catch (error) {
    return `src/index.ts does not load: ${(error as Error).message.split('\n')[0]}`;
  }
  const missing = server.requires.filter((name) => typeof library[name] !== 'function');
  return missing.length === 0 ? null : `src/index.ts does not export ${missing.join(', ')} yet`;
}

async function main(): Promise<number> {
  const options = parseOptions();
  const timing = options.timing;
  const selection = select(options.selectors);

  const skipped = new Map<string, string>();
  const wanted = selection.servers.filter((s) => selection.columns.some((c) => c.kind === s.kind));
  for (const server of wanted) {
    const reason = await unavailableReason(server);
    if (reason !== null) skipped.set(server.name, reason);
  }
  const runnable = wanted.filter((s) => !skipped.has(s.name));
  const plan = selection.columns
    .map((column) => ({ column, servers: runnable.filter((s) => s.kind === column.kind) }))
    .filter((entry) => entry.servers.length > 0);

  const pinning = os.availableParallelism() >= 2 && commandWorks('taskset', ['-c', LOADGEN_CPU, 'true']);
  const pinned = (cpu: string, command: string, args: readonly string[]): [string, string[]] =>
    pinning ? ['taskset', ['-c', cpu, command, ...args]] : [command, [...args]];
  const loadgen = plan.some((p) => !usesTlsLoadgen(p.column)) ? await ensureLoadgen(loadgenSource, cacheDir) : '';
  const tlsLoadgen = plan.some((p) => usesTlsLoadgen(p.column)) ? await ensureLoadgen(tlsLoadgenSource, cacheDir, 'tls-loadgen', ['-lssl', '-lcrypto']) : '';
  const loadgenFor = (column: BenchColumn): string => (usesTlsLoadgen(column) ? tlsLoadgen : loadgen);
  if (plan.some((p) => isTlsColumn(p.column))) {
    // The TLS servers read the bench certificate from these (the children inherit them).
    const material = ensureBenchCertificate(path.join(cacheDir, 'bench-tls'));
    process.env.BENCH_TLS_KEY = material.key;
    process.env.BENCH_TLS_CERT = material.cert;
  }
  // The servers (and bench/memory.ts, through the same environment) read the socket options here.
  if (options.noDelay) process.env.BENCH_NODELAY = '1';
  else delete process.env.BENCH_NODELAY;
  const startLoad = os.loadavg();
  const startedAt = new Date().toISOString();
  const profileDir = path.join(cacheDir, 'profiles');
  if (options.cpuProfile) mkdirSync(profileDir, { recursive: true });

  const serverCommand = (script: string, label: string, executable?: string): [string, string[]] => {
    if (executable !== undefined) return pinned(SERVER_CPU, path.join(repoRoot, executable), ['0']);
    const nodeFlags = options.cpuProfile
      ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${label}.cpuprofile`]
      : [];
    return pinned(SERVER_CPU, process.execPath, [...nodeFlags, path.join(repoRoot, 'bench/servers', script), '0']);
  };

  // Header: everything needed to reproduce or to judge the figures.
  const cpus = os.cpus();
  const out: string[] = [
    `Switchboard benchmark, ${new Date().toISOString()}`,
    `node      ${process.version} (${process.execPath})`,
    `machine   ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores (${os.availableParallelism()} available), ${os.type()} ${os.release()}`,
    `load      ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (1/5/15-minute load average at start)`,
    pinning
      ? `pinning   servers on CPU ${SERVER_CPU}, loadgen on CPU ${LOADGEN_CPU} (taskset)`
      : 'pinning   UNAVAILABLE (needs taskset and 2 CPUs): servers and loadgen share CPUs, expect more noise',
    `method    ${options.rounds} round(s); in each round every column runs its servers in turn (A B C A B C …),`,
    '          a fresh server process per measurement; medians, min–max, ratios against the baseline of this run',
    `timing    warm-up ${timing.warmup} s + ${timing.secs} s measured; tcp-idle settles ${timing.settle} s`,
    `sockets   TCP_NODELAY ${options.noDelay ? 'on (--nodelay)' : 'off (Nagle) on the servers'}; loadgen always sets it on its own`,
  ];
  if (options.cpuProfile) out.push(`PROFILING servers run under --cpu-prof, writing to ${profileDir}: figures are not comparable`);
  for (const [name, reason] of skipped) out.push(`skipped   ${name}: ${reason}`);
  if (plan.length > 0) {
    out.push('', 'server command (per server script):', `  ${serverCommand('<server>.ts', '<column>.<server>.r<round>').flat().join(' ')}`);
    out.push('', 'loadgen commands (per column; <port> and <pid> are the server\'s):');
    const width = Math.max(...plan.map((p) => p.column.name.length));
    for (const { column } of plan) {
      out.push(`  ${column.name.padEnd(width)}  ${pinned(LOADGEN_CPU, loadgenFor(column), loadgenArgs(column, timing, '<port>', '<pid>')).flat().join(' ')}`);
    }
    for (const server of runnable.filter((s) => s.loadgenArgs !== undefined && plan.some((p) => p.servers.includes(s)))) {
      out.push(`  (for ${server.name}, add: ${server.loadgenArgs!.join(' ')})`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n\n`);

  // Measurements.
  const results: Results = new Map();
  const warnings = new Set<string>();
  async function measure(column: BenchColumn, server: BenchServer, label: string): Promise<Sample> {
    const [command, args] = serverCommand(server.script, label, server.executable);
    let srv;
    try {
      srv = await startServer(command, args, READY_TIMEOUT_MS);
    } catch (error) {
      return { ok: false, reason: `server did not start: ${(error as Error).message}` };
    }
    try {
      const [lgCommand, lgArgs] = pinned(LOADGEN_CPU, loadgenFor(column), [...loadgenArgs(column, timing, String(srv.port), String(srv.pid)), ...(server.loadgenArgs ?? [])]);
      const run = await runCommand(lgCommand, lgArgs, loadgenTimeoutMs(timing));
      if (srv.hasExited()) {
        return { ok: false, reason: `server exited during the measurement: ${headline(srv.stderr())}` };
      }
      return sampleFrom(column, run);
    } finally {
      const exit = await srv.stop();
      if (exit.forced || exit.code !== 0) {
        warnings.add(`${server.name} did not exit 0 on SIGTERM (code ${exit.code}, signal ${exit.signal}${exit.forced ? ', killed after the grace period' : ''})`);
      }
    }
  }

  const total = plan.reduce((n, p) => n + p.servers.length, 0) * options.rounds;
  let done = 0;
  for (let round = 1; round <= options.rounds; round++) {
    for (const { column, servers: columnServers } of plan) {
      for (const server of columnServers) {
        const label = `${column.name}.${server.name}.r${round}`;
        const sample = await measure(column, server, label);
        const byServer = results.get(column.name) ?? new Map<string, Sample[]>();
        results.set(column.name, byServer);
        byServer.set(server.name, [...(byServer.get(server.name) ?? []), sample]);
        done++;
        const figure = sample.ok
          ? `${Math.round(sample.value).toLocaleString('en-US')} ${column.unit}  srv_cpu=${sample.srvCpu ?? 'NA'} lg_cpu=${sample.lgCpu ?? 'NA'}`
          : `FAILED: ${sample.reason.split('\n')[0]}`;
        process.stderr.write(`[${done}/${total}] round ${round} ${column.name} ${server.name}: ${figure}\n`);
      }
    }
  }

  // Report.
  const verdicts: Verdict[] = [];
  const sections: string[] = [];
  const summaries: ColumnSummary[] = [];
  for (const { column, servers: columnServers } of plan) {
    const section = formatColumn(column, columnServers, results);
    sections.push(section.text);
    verdicts.push(...section.verdicts);
    summaries.push({ column: column.name, unit: column.unit, lowerIsBetter: column.lowerIsBetter === true, servers: section.summaries });
  }
  if (plan.length > 0) {
    process.stdout.write(`${sections.join('\n\n')}\n\n${formatVerdicts(verdicts)}\n`);
    process.stdout.write(`load      ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (load average at the end)\n`);
    const note = formatSaturationNote(results);
    if (note !== null) process.stdout.write(`${note}\n`);
    const machine = `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${os.type()} ${os.release()}`;
    const info = { startedAt, node: process.version, machine, rounds: options.rounds, mode: options.mode, noDelay: options.noDelay, pinning, loadAverage: { start: startLoad, end: os.loadavg() } };
    const files = writeResults(options.outDir, info, summaries, results);
    process.stdout.write(`results   ${path.relative(process.cwd(), files.json)} (every sample), ${path.relative(process.cwd(), files.svg)} (chart of the ratios)\n`);
  }
  for (const warning of warnings) process.stdout.write(`warning   ${warning}\n`);

  let failed = [...results.values()].some((byServer) => [...byServer.values()].some((samples) => samples.some((s) => !s.ok)));

  for (const section of selection.sections) {
    const script = path.join(repoRoot, section.script);
    if (!existsSync(script)) continue;
    const args = [...(options.mode === 'quick' ? ['--quick'] : []), ...(section.name === 'memory' ? ['--rounds', String(options.rounds)] : [])];
    process.stdout.write(`\n${section.name} (${[section.script, ...args].join(' ')})\n`);
    const limit = section.timeoutMs[options.mode];
    const exit = await runInherited(process.execPath, [script, ...args], limit);
    if (exit.code !== 0) {
      failed = true;
      process.stdout.write(`${section.script} ${exit.timedOut ? `timed out after ${limit / 1000} s and was killed` : `exited with code ${exit.code} (signal ${exit.signal})`}\n`);
    }
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
