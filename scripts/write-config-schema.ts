/** Writes switchboard.schema.json from the settings table (`npm run schema`). */
import { writeFileSync } from 'node:fs';
import { configJsonSchemaText } from '../src/cli/config/json-schema.ts';

writeFileSync(new URL('../switchboard.schema.json', import.meta.url), configJsonSchemaText());
