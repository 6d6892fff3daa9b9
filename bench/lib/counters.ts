/**
 * Counts that do not depend on the machine's load, for the CPU benches' `--count` modes:
 * `process.nextTick` calls, promises created, and the heap bytes V8's sampling heap profiler estimates were
 * allocated (collected or not).
 */
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
  readonly children: readonly SampledNode[];
}

/** The bytes a sampling heap profile estimates were allocated under `node`. */
export function sampledBytes(node: SampledNode): number {
  let bytes = node.selfSize;
  for (const child of node.children) bytes += sampledBytes(child);
  return bytes;
}

/** The sampling options that count every allocation the profiler sees, young and old, collected or not. */
export const SAMPLE_EVERYTHING = { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as const;
