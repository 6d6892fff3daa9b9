/**
 * The Prometheus text exposition format, version 0.0.4, written by hand (no dependency): one
 * `# HELP` and one `# TYPE` line per metric family, before its samples; `\n` line endings, the
 * last line ending in `\n` too. Pure functions over strings.
 */

/** The `Content-Type` of a scrape. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The metric types the exposition writes. */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Label names and their values, in the order written. */
export type Labels = Readonly<Record<string, string>>;

/** `# HELP` text: backslash and line feed escaped. */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value: integers as they are, `+Inf`, `-Inf` and `NaN` spelt as the format says. */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** `{a="x",b="y"}`, or nothing for no labels. */
export function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** Accumulates the text of one scrape. */
export class ExpositionWriter {
  #text = '';

  /** Starts a metric family: its help and type lines. */
  family(name: string, type: MetricType, help: string): void {
    this.#text += `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
  }

  /** One sample line. */
  sample(name: string, labels: Labels, value: number): void {
    this.#text += `${name}${formatLabels(labels)} ${formatSampleValue(value)}\n`;
  }

  /** The text so far. */
  text(): string {
    return this.#text;
  }
}
