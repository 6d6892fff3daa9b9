/**
 * What loading the library costs every process that imports it, kept from growing back:
 * - every source file is ASCII. V8 holds a module's source as a string for as long as the module
 *   lives, and a file with even one character above U+007F is held as a two-byte string, twice
 *   its size. Write `--`, `->`, `...` in comments, and `\u2026`-style escapes in strings.
 * - `node:http` (1.5 MB of heap) is not loaded until a metrics endpoint is started.
 * - the built-ins only some features use (TLS, UDP, workers, DNS, `fs`) are loaded when a feature
 *   first needs them (src/core/builtins.ts), not by the import: about 1 MB of heap.
 * Why it matters: docs/benchmarks.md, "pipe1k: where the time goes".
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

async function sourceFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts')).map((entry) => join(entry.parentPath, entry.name));
}

describe('the heap the library costs', () => {
  it('every file under src/ is ASCII, so V8 holds its source as a one-byte string', async () => {
    const offending: string[] = [];
    for (const file of await sourceFiles(join(root, 'src'))) {
      const text = await readFile(file, 'utf8');
      const lines = text.split('\n');
      const at = lines.findIndex((line) => /[^\x00-\x7f]/.test(line));
      if (at !== -1) offending.push(`${relative(root, file)}:${at + 1}: ${lines[at]!.trim().slice(0, 80)}`);
    }
    assert.deepEqual(offending, [], 'non-ASCII characters (use --, ->, ... in comments and \\u escapes in strings)');
  });

  it('importing the library loads none of the built-ins only some features use, nor does a plain TCP server', () => {
    // node:net's own listen() loads cluster, child_process and dgram (its listenInCluster), so a
    // raw server has them too: the import must not, and listening on TCP must add nothing else.
    const script = `
      const lazy = ['tls', 'crypto', 'dns/promises', 'fs/promises', 'http', 'dgram', 'cluster', 'child_process'];
      const loaded = () => lazy.filter((name) => process.moduleLoadList.includes('NativeModule ' + name));
      const lib = await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)});
      const imported = loaded();
      const tcp = await lib.listenTcp({ host: '127.0.0.1', port: 0 }, { data() {} });
      const listening = loaded();
      await tcp.close();
      console.log(JSON.stringify({ imported, listening }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    const { imported, listening } = JSON.parse(child.stdout.trim()) as { imported: string[]; listening: string[] };
    assert.deepEqual(imported, []);
    assert.deepEqual(listening.sort(), ['child_process', 'cluster', 'dgram']);
  });

  it('importing the library does not load node:http; starting a metrics endpoint does', () => {
    const script = `
      const loaded = () => process.moduleLoadList.some((name) => name === 'NativeModule http');
      const lib = await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)});
      const before = loaded();
      const metrics = await lib.listenMetrics(new lib.MetricsRegistry(), { host: '127.0.0.1', port: 0 });
      const after = loaded();
      await metrics.close();
      console.log(JSON.stringify({ before, after }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout.trim()), { before: false, after: true });
  });

  it('a metrics endpoint loads node:http without undici (no ES facade of node:http, which reads its lazy WebSocket exports)', () => {
    const script = `
      const lib = await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)});
      const before = process.moduleLoadList.length;
      const metrics = await lib.listenMetrics(new lib.MetricsRegistry(), { host: '127.0.0.1', port: 0 });
      const added = process.moduleLoadList.slice(before);
      await metrics.close();
      const heavy = ['internal/deps/undici/undici', 'http2', 'zlib', 'worker_threads'].filter((name) => added.includes('NativeModule ' + name));
      console.log(JSON.stringify({ heavy, count: added.length }));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    const { heavy, count } = JSON.parse(child.stdout.trim()) as { heavy: string[]; count: number };
    assert.deepEqual(heavy, [], `listenMetrics loaded ${count} internal modules`);
  });
});
