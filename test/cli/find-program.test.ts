import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findProgram } from '../../src/cli/exec/find-program.ts';

describe('findProgram', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-find-'));
  const first = join(dir, 'first');
  const second = join(dir, 'second');
  mkdirSync(first);
  mkdirSync(second);
  writeFileSync(join(first, 'tool'), '', { mode: 0o644 }); // not executable: skipped, as execvp does
  writeFileSync(join(second, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  mkdirSync(join(first, 'dir'));

  it('takes the first executable file along PATH', () => {
    assert.deepEqual(findProgram('tool', `${first}:${second}`), { file: join(second, 'tool') });
  });

  it('names the file found but not executable when nothing better is on PATH', () => {
    assert.deepEqual(findProgram('tool', first), { problem: `not executable (${join(first, 'tool')})` });
    assert.deepEqual(findProgram('dir', first), { problem: `not executable (${join(first, 'dir')})` });
  });

  it('says a name is not on PATH, and an empty PATH entry is the working directory', () => {
    assert.deepEqual(findProgram('no-such-tool', `${first}:${second}`), { problem: 'not found in PATH' });
    assert.deepEqual(findProgram('package.json', ''), { problem: 'not executable (package.json)' });
  });

  it('takes a name with a slash as a path, not searched for', () => {
    assert.deepEqual(findProgram(join(second, 'tool'), ''), { file: join(second, 'tool') });
    assert.deepEqual(findProgram('./no-such-tool', second), { problem: 'no such file' });
    assert.deepEqual(findProgram(first, second), { problem: 'not a file' });
    chmodSync(join(first, 'tool'), 0o600);
    assert.deepEqual(findProgram(join(first, 'tool'), second), { problem: 'not executable' });
  });

  it('searches /usr/bin:/bin when PATH is unset, as libuv does', () => {
    assert.deepEqual(findProgram('sh', undefined), { file: '/usr/bin/sh' });
  });
});
