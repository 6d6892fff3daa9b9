/**
 * The printed report: one table per column with median, min–max and the ratio to
 * the baseline measured in the same run, the target beside it, then a summary.
 */
import type { BenchColumn } from './columns.ts';
import type { Measured, Sample } from './loadgen.ts';
import { figure, formatRatio, intervalVerdict, perCpu, roundRatios, summarizeRatios, type RatioSummary } from './round-ratios.ts';
import type { BenchServer } from './servers.ts';
import { summarize } from './stats.ts';

/** Samples per column name, then per server name, in measurement order. */
export type Results = Map<string, Map<string, Sample[]>>;

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function percent(value: number): string {
  return Number.isNaN(value) ? '–' : `${value.toFixed(0)}%`;
}

function times(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(3)}×` : '–';
}

/** Half the min–max range as a share of the median: `±4%`. */
function spread(values: { median: number; min: number; max: number }): string {
  if (!(values.median > 0) || values.min === values.max) return Number.isNaN(values.median) ? '–' : '±0%';
  return `±${(((values.max - values.min) / 2 / values.median) * 100).toFixed(0)}%`;
}

function count(value: number): string {
  return Number.isNaN(value) ? '–' : integer.format(value);
}

function okValues(samples: readonly Sample[], pick: (s: Measured) => number | null): number[] {
  const values: number[] = [];
  for (const sample of samples) {
    if (!sample.ok) continue;
    const value = pick(sample);
    if (value !== null) values.push(value);
  }
  return values;
}

/** A target check for one server in one column. */
export interface Verdict {
  readonly column: string;
  readonly server: string;
  /** The per-CPU-second ratio (median of per-round ratios) where loadgen sampled CPU, else the figure's. */
  readonly ratio: number;
  /** The median's 95 % bootstrap interval (NaN with fewer than 3 rounds). */
  readonly low: number;
  readonly high: number;
  /** Which ratio {@link ratio} is. */
  readonly basis: 'per-cpu' | 'figure';
  readonly target: number;
  readonly lowerIsBetter: boolean;
  readonly met: boolean;
}

/** One server's figures in one column, as the results file records them. */
export interface ServerSummary {
  readonly server: string;
  readonly baseline: string | null;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Rounds that produced a figure, and rounds run. */
  readonly ok: number;
  readonly rounds: number;
  readonly srvCpuMedian: number;
  readonly perCpuMedian: number;
  /** Per-round ratios to the baseline: of the figure, and of the figure per server CPU-second. */
  readonly ratio: RatioSummary | null;
  readonly perCpuRatio: RatioSummary | null;
  readonly target: number | null;
}

function targetFor(column: BenchColumn, server: BenchServer): number | undefined {
  return column.lowerIsBetter ? server.targets?.memory : server.targets?.throughput;
}

function table(rows: readonly string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows
    .map((row) => `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ')}`.trimEnd())
    .join('\n');
}

/** Format one column's table; returns the text and the target verdicts it contains. */
export function formatColumn(
  column: BenchColumn,
  columnServers: readonly BenchServer[],
  results: Results,
): { text: string; verdicts: Verdict[]; summaries: ServerSummary[] } {
  const byServer = results.get(column.name) ?? new Map<string, Sample[]>();
  const medianOf = (name: string, pick: (s: Measured) => number | null): number =>
    summarize(okValues(byServer.get(name) ?? [], pick)).median;
  const value = figure;
  // Work per second of server CPU (perCpu): steadier than wall-clock rates when other processes
  // take CPU time, as long as the server's cost per message does not change with load.
  // tcp-idle reads memory after the traffic, so loadgen samples no CPU there.
  const hasCpu = column.mode !== 'tcp-idle';
  const verdicts: Verdict[] = [];
  const summaries: ServerSummary[] = [];
  const failures: string[] = [];
  const rows: string[][] = [
    ['server', 'median', 'spread', 'min–max', '× baseline', '× per round', 'target', ...(hasCpu ? ['srv_cpu', 'lg_cpu', 'per CPU-s', '× per CPU-s, per round'] : []), 'ok'],
  ];

  for (const server of columnServers) {
    const samples = byServer.get(server.name) ?? [];
    const values = summarize(okValues(samples, value));
    const efficiency = medianOf(server.name, perCpu);
    const okCount = samples.filter((s) => s.ok).length;
    let ratioText = 'baseline';
    let roundText = 'baseline';
    let perCpuRatioText = 'baseline';
    let targetText = '';
    let ratio: RatioSummary | null = null;
    let cpuRatio: RatioSummary | null = null;
    const target = server.baseline === null ? undefined : targetFor(column, server);
    if (server.baseline !== null) {
      const baseline = byServer.get(server.baseline) ?? [];
      ratioText = times(values.median / medianOf(server.baseline, value));
      ratio = summarizeRatios(roundRatios(samples, baseline, value));
      roundText = formatRatio(ratio);
      cpuRatio = hasCpu ? summarizeRatios(roundRatios(samples, baseline, perCpu)) : null;
      perCpuRatioText = cpuRatio === null ? '–' : formatRatio(cpuRatio);
      // The verdict reads the per-CPU-second ratio where there is one: on a shared machine it
      // is the figure that stays honest when another process takes the server's core.
      const usePerCpu = cpuRatio !== null && cpuRatio.rounds > 0;
      const judgedSummary = usePerCpu ? cpuRatio! : ratio;
      const judged = judgedSummary.median;
      if (target !== undefined) {
        const lowerIsBetter = column.lowerIsBetter === true;
        const met = Number.isFinite(judged) && (lowerIsBetter ? judged <= target : judged >= target);
        targetText = `${lowerIsBetter ? '≤' : '≥'}${target} ${Number.isFinite(judged) ? (met ? 'met' : 'MISSED') : 'n/a'}`;
        if (Number.isFinite(judged)) {
          verdicts.push({ column: column.name, server: server.name, ratio: judged, low: judgedSummary.low, high: judgedSummary.high, basis: usePerCpu ? 'per-cpu' : 'figure', target, lowerIsBetter, met });
        }
      }
    }
    summaries.push({
      server: server.name,
      baseline: server.baseline,
      median: values.median,
      min: values.min,
      max: values.max,
      ok: okCount,
      rounds: samples.length,
      srvCpuMedian: summarize(okValues(samples, (s) => s.srvCpu)).median,
      perCpuMedian: efficiency,
      ratio,
      perCpuRatio: cpuRatio,
      target: target ?? null,
    });
    const cpuCells = [
      percent(summarize(okValues(samples, (s) => s.srvCpu)).median),
      percent(summarize(okValues(samples, (s) => s.lgCpu)).median),
      count(efficiency),
      perCpuRatioText,
    ];
    rows.push([
      server.name,
      count(values.median),
      spread(values),
      Number.isNaN(values.min) ? '–' : `${count(values.min)}–${count(values.max)}`,
      ratioText,
      roundText,
      targetText,
      ...(hasCpu ? cpuCells : []),
      `${okCount}/${samples.length}`,
    ]);
    samples.forEach((sample, round) => {
      if (!sample.ok) failures.push(`  ! ${server.name} round ${round + 1}: ${sample.reason.split('\n')[0]}`);
    });
  }

  const sense = column.lowerIsBetter
    ? `${column.unit}, lower is better; × baseline = server ÷ baseline, so below 1 uses less memory`
    : `${column.unit}, higher is better; × baseline = median ÷ baseline's median; × per round = median of the rounds' ratios (min–max, rounds)`;
  const text = [
    `${column.name}  [${column.mode}]  ${column.description}`,
    `  (${sense})`,
    table(rows),
    ...failures,
  ].join('\n');
  return { text, verdicts, summaries };
}

/** One line per target, missed ones first. */
export function formatVerdicts(verdicts: readonly Verdict[]): string {
  if (verdicts.length === 0) return 'Targets: nothing to compare yet (no server with a target was measured).';
  const missed = verdicts.filter((v) => !v.met);
  const lines = [`Targets: ${verdicts.length - missed.length} met, ${missed.length} missed`];
  for (const v of [...missed, ...verdicts.filter((v) => v.met)]) {
    const sign = v.lowerIsBetter ? '≤' : '≥';
    const basis = v.basis === 'per-cpu' ? 'per CPU-s' : 'figure';
    const interval = Number.isFinite(v.low) ? `, 95 % interval ${v.low.toFixed(3)}–${v.high.toFixed(3)}: ${intervalVerdict(v, v.target, v.lowerIsBetter)}` : '';
    lines.push(`  ${v.met ? 'met   ' : 'MISSED'}  ${v.server} on ${v.column}: ${v.ratio.toFixed(3)}× ${basis}, median of rounds (target ${sign}${v.target}×)${interval}`);
  }
  return lines.join('\n');
}

/** Below this server CPU a throughput sample did not measure the server alone. */
const SATURATED_CPU = 80;

/**
 * A note when samples ran with the server clearly below one full CPU: then the server was
 * not the bottleneck, usually because another process held a CPU of this shared machine.
 */
export function formatSaturationNote(results: Results): string | null {
  let all = 0;
  let low = 0;
  for (const byServer of results.values()) {
    for (const samples of byServer.values()) {
      for (const sample of samples) {
        if (!sample.ok || sample.srvCpu === null) continue;
        all++;
        if (sample.srvCpu < SATURATED_CPU) low++;
      }
    }
  }
  if (low === 0) return null;
  return [
    `note      ${low} of ${all} samples ran with srv_cpu below ${SATURATED_CPU} %: the server was not the bottleneck there,`,
    '          usually because other processes held a CPU (see the load average); read those ratios as noisy, or rerun',
    '          on a quieter machine or with more rounds',
  ].join('\n');
}
