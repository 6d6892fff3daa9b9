import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as api from '../../src/index.ts';
import * as kit from '../../src/testing/index.ts';
import { withoutCodeBlocks } from '../helpers/markdown.ts';

const apiDoc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
const indexSource = readFileSync(new URL('../../src/index.ts', import.meta.url), 'utf8');
const kitSource = readFileSync(new URL('../../src/testing/index.ts', import.meta.url), 'utf8');

/**
 * The names a Markdown page documents: the name a heading starts with, and the name an inline
 * code span starts with (`listen(…)`, `new TcpServer(…)`, `Datagram`, `UDP_DEFAULTS.maxSources`).
 * Fenced code blocks do not count, nor does a name after a dot: `server.listen()` names `server`.
 */
function documentedNames(markdown: string): Set<string> {
  const names = new Set<string>();
  const prose = withoutCodeBlocks(markdown);
  const leading = /^(?:new\s+)?([A-Za-z_$][\w$]*)/;
  for (const [, heading] of prose.matchAll(/^#{1,6}[ \t]+(.+)$/gm)) {
    const name = leading.exec(heading!.replace(/^`/, ''))?.[1];
    if (name !== undefined) names.add(name);
  }
  for (const [, span] of prose.matchAll(/`([^`\n]+)`/g)) {
    const name = leading.exec(span!.trim())?.[1];
    if (name !== undefined) names.add(name);
  }
  return names;
}

/** Type-only exports, which leave no trace at runtime: `export type { A, B as C }` and `export { type D }`. */
function typeOnlyExports(source: string): string[] {
  const names: string[] = [];
  for (const [, typeOnly, list] of source.matchAll(/^export\s+(type\s+)?\{([^}]*)\}/gm)) {
    for (const raw of list!.split(',')) {
      const entry = raw.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '').trim();
      if (entry === '') continue;
      const isType = typeOnly !== undefined || entry.startsWith('type ');
      if (isType) names.push(entry.replace(/^type\s+/, '').split(/\s+as\s+/).pop()!.trim());
    }
  }
  return names;
}

describe('docs/api.md', () => {
  describe('documentedNames', () => {
    it('counts headings and code spans that start with the name, not prose, fences or members', () => {
      const names = documentedNames(
        [
          '### `listen(options?, handler?)`',
          '## Lifecycle',
          'Call `new TcpServer(options)`, then `server.close()`; see `UDP_DEFAULTS.maxSources`.',
          'Datagram is mentioned here in prose only.',
          '```ts',
          'const hidden = `CodecError`;',
          '```',
        ].join('\n'),
      );
      assert.ok(names.has('listen'));
      assert.ok(names.has('Lifecycle'));
      assert.ok(names.has('TcpServer'));
      assert.ok(names.has('UDP_DEFAULTS'));
      assert.ok(!names.has('close'), 'a member after a dot is not the export');
      assert.ok(!names.has('Datagram'), 'bare prose does not document a name');
      assert.ok(!names.has('CodecError'), 'fenced code does not document a name');
    });
  });

  it('documents every runtime export of src/index.ts', () => {
    const exported = Object.keys(api);
    assert.ok(exported.includes('listen') && exported.includes('listenUdp'), 'the module namespace was read');
    const documented = documentedNames(apiDoc);
    const missing = exported.filter((name) => !documented.has(name));
    assert.deepEqual(missing, [], `exports without an entry in docs/api.md: ${missing.join(', ')}`);
  });

  it('documents every type-only export of src/index.ts', () => {
    const exported = typeOnlyExports(indexSource);
    assert.ok(exported.includes('TcpServerOptions') && exported.includes('CloseReason'), 'the type exports were parsed');
    const documented = documentedNames(apiDoc);
    const missing = exported.filter((name) => !documented.has(name));
    assert.deepEqual(missing, [], `type exports without an entry in docs/api.md: ${missing.join(', ')}`);
  });

  it('documents every export of the testing entry, src/testing/index.ts (switchboard/testing)', () => {
    const exported = [...Object.keys(kit), ...typeOnlyExports(kitSource)];
    assert.ok(exported.includes('scriptedClient') && exported.includes('ScriptedClientOptions'), 'both kinds of export were read');
    const documented = documentedNames(apiDoc);
    const missing = exported.filter((name) => !documented.has(name));
    assert.deepEqual(missing, [], `testing exports without an entry in docs/api.md: ${missing.join(', ')}`);
  });
});
