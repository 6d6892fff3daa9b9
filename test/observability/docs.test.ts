/** docs/observability.md documents every metric family and every diagnostics channel. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DiagnosticsChannel, METRIC_FAMILIES } from '../../src/index.ts';

const doc = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8');
const tableRows = doc.split('\n').filter((line) => line.startsWith('| `'));

describe('docs/observability.md', () => {
  it('has a table row for every metric family, with its type', () => {
    for (const family of METRIC_FAMILIES) {
      const row = tableRows.find((line) => line.startsWith(`| \`${family.name}\` |`));
      assert.ok(row, `no row for ${family.name}`);
      assert.match(row, new RegExp(`^\\| \`${family.name}\` \\| ${family.type} \\|`), `${family.name} is a ${family.type}`);
      for (const label of family.labels ?? []) assert.match(row, new RegExp(`\`${label}\``), `${family.name} has the ${label} label`);
    }
  });

  it('has a table row for every channel', () => {
    for (const name of Object.values(DiagnosticsChannel)) assert.ok(tableRows.some((line) => line.startsWith(`| \`${name}\` |`)), `no row for ${name}`);
  });
});
