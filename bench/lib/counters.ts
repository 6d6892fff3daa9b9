/**
 * Counts that do not depend on the machine's load, for the CPU benches' `--count` modes:
 * `process.nextTick` calls, promises created, and the heap bytes V8's sampling heap profiler estimates were
 * allocated (collected or not).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promiseHooks } from 'node:v8';

/** Wraps `process.nextTick` so every call is counted; returns the count so far. */
export function countTicks(): () => number {
  let ticks = 0;
  const nextTick = process.nextTick;
  process.nextTick = function countedTick(this: unknown, ...args: Parameters<typeof nextTick>) {
    ticks++;
    return nextTick.apply(this, args);
  } as typeof nextTick;
  return () => ticks;
}

/** Wraps the global `setTimeout`, `setInterval` and `setImmediate` so every timer armed is counted; returns the count so far. */
export function countTimers(): () => number {
  let timers = 0;
  for (const name of ['setTimeout', 'setInterval', 'setImmediate'] as const) {
    const original = globalThis[name] as (...args: unknown[]) => unknown;
    (globalThis as Record<string, unknown>)[name] = function countedTimer(this: unknown, ...args: unknown[]) {
      timers++;
      return original.apply(this, args);
    };
  }
  return () => timers;
}

/** Counts every promise created (V8's promise `init` hook, so `await` and async functions count too); returns the count so far. */
export function countPromises(): () => number {
  let promises = 0;
  promiseHooks.onInit(() => {
    promises++;
  });
  return () => promises;
}

/** A node of a sampling heap profile (`HeapProfiler.stopSampling`). */
export interface SampledNode {
  readonly selfSize: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children: readonly SampledNode[];
}

/** The bytes a sampling heap profile estimates were allocated, by allocation site (`function file:line`, the file relative to the working directory, the line the function's own). */
export function sampledSites(node: SampledNode, sites = new Map<string, number>()): Map<string, number> {
  if (node.selfSize > 0) {
    const site = siteName(node.callFrame);
    sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
  }
  for (const child of node.children) sampledSites(child, sites);
  return sites;
}

/** The bytes a sampling heap profile estimates were allocated under `node`. */
export function sampledBytes(node: SampledNode): number {
  let bytes = node.selfSize;
  for (const child of node.children) bytes += sampledBytes(child);
  return bytes;
}

/** The sampling options that count every allocation the profiler sees, young and old, collected or not. */
export const SAMPLE_EVERYTHING = { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as const;

/** A V8 CPU profile (`Profiler.stop`). */
interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: SampledNode['callFrame'] }[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

/** Self time (µs) per function (`function file:line`, as {@link sampledSites} names sites) of a CPU profile. */
export function profiledSelfTimes(profile: CpuProfile): Map<string, number> {
  const names = new Map<number, string>();
  for (const node of profile.nodes) names.set(node.id, siteName(node.callFrame));
  const self = new Map<string, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const site = names.get(samples[i]!)!;
    self.set(site, (self.get(site) ?? 0) + (deltas[i + 1] ?? 0));
  }
  return self;
}

function siteName({ functionName, url, lineNumber }: SampledNode['callFrame']): string {
  const file = url.startsWith('file://') ? path.relative(process.cwd(), fileURLToPath(url)) : url;
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}
