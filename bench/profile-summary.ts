/**
 * `node bench/profile-summary.ts FILE.cpuprofile […]`: self time by function of V8 CPU profiles
 * (`--cpu-prof`, e.g. from `node bench/run.ts --profile`), over the load's window only, so that
 * startup (loading and type-stripping the sources) and the idle tail after the load generator
 * stopped count for nothing. With several files the functions are lined up side by side, in
 * per cent of each profile's busy (not idle) samples, or in ns per message when `--msgs` gives each file's
 * message rate, so a raw baseline and a library server can be compared row by row.
 *
 *   node bench/profile-summary.ts [--skip S] [--top N] [--msgs RATE[,RATE…]] FILE…
 *
 * `--skip S` (default 0.5): the warm-up left out at the start of the load (the load spans the
 *   first to the last sample in `writeBuffer`, the echo's write syscall).
 * `--top N` (default 25): rows, by the first file's self time.
 * `--msgs`: messages per second the load generator measured for each file, in order.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Self time per function (µs) in the window, and the window's length (µs). */
interface Summary {
  readonly self: Map<string, number>;
  readonly windowUs: number;
  readonly idleUs: number;
}

/** One row's key: the function, and where it is (node internals by module, the project's files by path). */
function frameKey(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName === '' ? '(anonymous)' : functionName;
  if (url === '') return name;
  const where = url.startsWith('node:') ? url : path.relative(process.cwd(), new URL(url).pathname);
  return `${name} ${where}:${lineNumber + 1}`;
}

/** The native functions that make the echo's write syscall: one buffer, or a batch (a corked echo). */
const WRITE_SYSCALLS = new Set(['writeBuffer', 'writev']);

function summarize(file: string, skipSecs: number): Summary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const times: number[] = [];
  let t = profile.startTime;
  for (const delta of profile.timeDeltas) times.push((t += delta));
  // The load's span: from the first to the last sample in `writeBuffer` or `writev` (the echo's
  // write syscall), less the warm-up at its start, so startup and the idle tail count for nothing.
  const inWrite = (i: number): boolean => WRITE_SYSCALLS.has(byId.get(profile.samples[i]!)!.callFrame.functionName);
  let first = 1;
  while (first < times.length && !inWrite(first)) first++;
  let end = times.length - 1;
  while (end > first && !inWrite(end)) end--;
  if (end <= first) throw new Error(`${file}: no sample in writeBuffer or writev (was the server under load?)`);
  const from = times[first]! + skipSecs * 1e6;
  const self = new Map<string, number>();
  let idleUs = 0;
  let windowUs = 0;
  for (let i = 1; i <= end; i++) {
    if (times[i - 1]! < from) continue;
    const us = times[i]! - times[i - 1]!;
    const node = byId.get(profile.samples[i]!)!;
    const key = frameKey(node);
    windowUs += us;
    if (node.callFrame.functionName === '(idle)') idleUs += us;
    self.set(key, (self.get(key) ?? 0) + us);
  }
  return { self, windowUs, idleUs };
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { skip: { type: 'string', default: '0.5' }, top: { type: 'string', default: '25' }, msgs: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length === 0) {
    process.stderr.write('usage: node bench/profile-summary.ts [--skip S] [--top N] [--msgs RATE[,RATE…]] FILE…\n');
    process.exit(2);
  }
  const skipSecs = Number(values.skip);
  const top = Number(values.top);
  const rates = values.msgs === undefined ? [] : values.msgs.split(',').map(Number);
  const summaries = positionals.map((file) => summarize(file, skipSecs));
  const names = positionals.map((file) => path.basename(file, '.cpuprofile'));
  const keys = [...summaries[0]!.self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([key]) => key);
  // Functions the other files spend time in that the first has little of: the rows a comparison is for.
  for (const summary of summaries.slice(1)) {
    for (const [key] of [...summary.self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) if (!keys.includes(key)) keys.push(key);
  }
  const lines: string[] = [];
  for (const [i, summary] of summaries.entries()) {
    const busy = summary.windowUs - summary.idleUs;
    const perMsg = rates[i] === undefined ? '' : `, ${((busy / summary.windowUs) / rates[i]! * 1e6).toFixed(3)} µs busy per message at ${rates[i]} msgs/s`;
    lines.push(`${names[i]}: window ${(summary.windowUs / 1e6).toFixed(2)} s, ${(100 * busy / summary.windowUs).toFixed(1)} % busy${perMsg}`);
  }
  const perMessage = rates.length === summaries.length;
  lines.push('', `self time (${perMessage ? 'ns per message' : '% of the busy (not idle) time'}) by function, ${names.join(' | ')}`);
  for (const key of keys) {
    if (!perMessage && key === '(idle)') continue;
    const cells = summaries.map((summary, i) => {
      const us = summary.self.get(key) ?? 0;
      if (!perMessage) return (100 * us / (summary.windowUs - summary.idleUs)).toFixed(1).padStart(6);
      return ((us / (summary.windowUs / 1e6)) / rates[i]! * 1e3).toFixed(1).padStart(7);
    });
    lines.push(`${cells.join(' ')}  ${key}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main();
