/** Writes switchboard.schema.json and the key tables of docs/config.md from the settings table (`npm run schema`). */
import { readFileSync, writeFileSync } from 'node:fs';
import { KEYS_MARKERS, configJsonSchemaText, configKeysMarkdown } from '../src/cli/config/json-schema.ts';

writeFileSync(new URL('../switchboard.schema.json', import.meta.url), configJsonSchemaText());
const docs = new URL('../docs/config.md', import.meta.url);
const [start, end] = KEYS_MARKERS;
const text = readFileSync(docs, 'utf8');
const from = text.indexOf(start);
const to = text.indexOf(end);
if (from === -1 || to === -1) throw new Error(`docs/config.md lacks the markers ${start} … ${end}`);
writeFileSync(docs, `${text.slice(0, from + start.length)}\n${configKeysMarkdown()}\n${text.slice(to)}`);
