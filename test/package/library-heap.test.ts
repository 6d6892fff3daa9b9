/**
 * What loading the library costs every process that imports it, kept from growing back:
 * - every source file is ASCII. V8 holds a module's source as a string for as long as the module
 *   lives, and a file with even one character above U+007F is held as a two-byte string, twice
 *   its size. Write `--`, `->`, `...` in comments, and `\u2026`-style escapes in strings.
 * - `node:http` (1.5 MB of heap) is not loaded until a metrics endpoint is started.
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
});
