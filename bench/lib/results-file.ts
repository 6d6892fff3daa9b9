/**
 * The run as data: a JSON results file (every sample and every summary) and an SVG bar chart of
 * the per-CPU-second ratio per column, drawn by hand so the bench needs no plotting dependency.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Results, ServerSummary } from './report.ts';

/** What the results file holds besides the samples. */
export interface RunInfo {
  readonly startedAt: string;
  readonly node: string;
  readonly machine: string;
  readonly rounds: number;
  readonly mode: 'full' | 'quick';
  readonly noDelay: boolean;
  readonly pinning: boolean;
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] };
}

/** One column's summaries, in report order. */
export interface ColumnSummary {
  readonly column: string;
  readonly unit: string;
  readonly lowerIsBetter: boolean;
  readonly servers: readonly ServerSummary[];
}

/** Writes `results.json` and `ratios.svg` into `dir`; returns their paths. */
export function writeResults(dir: string, info: RunInfo, summaries: readonly ColumnSummary[], results: Results): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const samples: Record<string, Record<string, unknown[]>> = {};
  for (const [column, byServer] of results) {
    samples[column] = {};
    for (const [server, list] of byServer) samples[column][server] = list.map((s) => (s.ok ? { ok: true, value: s.value, srvCpu: s.srvCpu, lgCpu: s.lgCpu, fields: s.fields } : s));
  }
  const json = path.join(dir, 'results.json');
  writeFileSync(json, `${JSON.stringify({ info, columns: summaries, samples }, finite, 2)}\n`);
  const svg = path.join(dir, 'ratios.svg');
  writeFileSync(svg, ratioChart(info, summaries));
  return { json, svg };
}

/** NaN and Infinity are not JSON: they become null. */
function finite(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

const PALETTE = ['#3b6fb6', '#d9822b', '#4a9a5b', '#b54a4a', '#7a5fb0', '#8c6d31', '#c45a9a', '#5a8fa0'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Grouped bars: one group per column, one bar per compared server, its height the median of the
 * per-round ratios (per CPU-second where loadgen sampled CPU, else the figure's), a whisker for
 * the min–max of the rounds, and a line at 1.0 (the baseline).
 */
export function ratioChart(info: RunInfo, summaries: readonly ColumnSummary[]): string {
  const groups = summaries
    .map((c) => ({ column: c.column, lowerIsBetter: c.lowerIsBetter, bars: c.servers.filter((s) => s.baseline !== null).map((s) => ({ server: s.server, ratio: s.perCpuRatio && s.perCpuRatio.rounds > 0 ? s.perCpuRatio : s.ratio, target: s.target })) }))
    .filter((g) => g.bars.length > 0);
  const servers = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.server)))];
  const colour = (server: string): string => PALETTE[servers.indexOf(server) % PALETTE.length]!;
  const barWidth = 16;
  const gap = 22;
  const left = 48;
  const top = 40;
  const plotHeight = 240;
  const maxRatio = Math.max(1.2, ...groups.flatMap((g) => g.bars.map((b) => (b.ratio && Number.isFinite(b.ratio.max) ? b.ratio.max : 0)))) * 1.05;
  const y = (ratio: number): number => top + plotHeight - (ratio / maxRatio) * plotHeight;
  let x = left + gap;
  const parts: string[] = [];
  for (const group of groups) {
    const start = x;
    for (const bar of group.bars) {
      const r = bar.ratio;
      if (r !== null && Number.isFinite(r.median)) {
        parts.push(`<rect x="${x}" y="${y(r.median).toFixed(1)}" width="${barWidth}" height="${(top + plotHeight - y(r.median)).toFixed(1)}" fill="${colour(bar.server)}"><title>${escapeXml(`${bar.server} on ${group.column}: ${r.median.toFixed(3)}× (${r.min.toFixed(3)}–${r.max.toFixed(3)}, ${r.rounds} rounds)`)}</title></rect>`);
        if (r.rounds > 1) {
          const cx = x + barWidth / 2;
          parts.push(`<path d="M${cx} ${y(r.min).toFixed(1)}V${y(r.max).toFixed(1)}M${cx - 4} ${y(r.min).toFixed(1)}h8M${cx - 4} ${y(r.max).toFixed(1)}h8" stroke="#222" stroke-width="1"/>`);
        }
        parts.push(`<text x="${x + barWidth / 2}" y="${(y(r.max) - 4).toFixed(1)}" font-size="8" text-anchor="middle">${r.median.toFixed(2)}</text>`);
      }
      if (bar.target !== null) parts.push(`<path d="M${x - 2} ${y(bar.target).toFixed(1)}h${barWidth + 4}" stroke="#000" stroke-dasharray="2 2"/>`);
      x += barWidth + 2;
    }
    parts.push(`<text x="${(start + x) / 2}" y="${top + plotHeight + 14}" font-size="11" text-anchor="middle">${escapeXml(group.column)}${group.lowerIsBetter ? ' (mem)' : ''}</text>`);
    x += gap;
  }
  const title = `Ratio to the raw baseline per server CPU-second (median of ${info.rounds} rounds, whiskers min–max, dashes targets), noDelay ${info.noDelay ? 'on' : 'off'}, ${info.node}, ${info.startedAt.slice(0, 16)}Z`;
  // Wide enough for the bars and for the title at 12 px (about 6.2 px a character).
  const width = Math.max(x + 10, 420, Math.ceil(left + title.length * 6.2));
  const axis: string[] = [];
  for (let tick = 0; tick <= maxRatio; tick += 0.2) {
    const ty = y(tick).toFixed(1);
    axis.push(`<path d="M${left} ${ty}H${width - 10}" stroke="${Math.abs(tick - 1) < 1e-9 ? '#000' : '#ddd'}" stroke-width="${Math.abs(tick - 1) < 1e-9 ? 1.5 : 1}"/>`, `<text x="${left - 6}" y="${Number(ty) + 3}" font-size="10" text-anchor="end">${tick.toFixed(1)}</text>`);
  }
  const legendY = top + plotHeight + 34;
  const perRow = Math.max(1, Math.floor((width - left) / 230));
  const legend = servers.map((server, i) => {
    const lx = left + (i % perRow) * 230;
    const ly = legendY + Math.floor(i / perRow) * 16;
    return `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${colour(server)}"/><text x="${lx + 14}" y="${ly}" font-size="11">${escapeXml(server)}</text>`;
  });
  const height = legendY + Math.ceil(servers.length / perRow) * 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    `<text x="${left}" y="20" font-size="12">${escapeXml(title)}</text>`,
    ...axis,
    ...parts,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
