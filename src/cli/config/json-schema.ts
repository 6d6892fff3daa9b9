/**
 * The JSON Schema of `switchboard.toml`, made from the settings table (settings.ts): published
 * as switchboard.schema.json, which editors (VS Code with Taplo, ...) validate TOML against.
 * `npm run schema` writes it; a test checks the file is up to date.
 */
import { KEYS_WITHOUT_FLAGS, SETTINGS, type JsonSchema, type Setting } from '../settings.ts';

/** The schema, as a JSON value. */
export function configJsonSchema(): JsonSchema {
  const global: Record<string, JsonSchema> = {};
  const service: Record<string, JsonSchema> = {};
  for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting][]) {
    if (setting.key === null) continue;
    const syntax = setting.keySyntax ?? setting.syntax;
    const one = syntax.jsonSchema;
    const schema: JsonSchema = {
      description: `${setting.help}${setting.commands.length === 0 ? '' : ` (flag --${name})`}; default ${setting.default}`,
      ...(setting.multiple && syntax.fromToml === undefined ? { anyOf: [{ type: 'array', items: one }, one] } : one),
    };
    (setting.scope === 'global' ? global : service)[setting.key] = schema;
  }
  for (const [key, entry] of Object.entries(KEYS_WITHOUT_FLAGS)) {
    const one = entry.syntax.jsonSchema;
    service[key] = { description: entry.help, ...('multiple' in entry && entry.multiple ? { type: 'array', items: one } : one) };
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'switchboard.toml',
    description: 'The services of `switchboard up` (docs/config.md).',
    type: 'object',
    additionalProperties: false,
    properties: {
      global: { type: 'object', description: 'Output, shutdown and the pid file.', additionalProperties: false, properties: sorted(global) },
      services: {
        type: 'object',
        description: 'One table per service, by name.',
        additionalProperties: {
          type: 'object',
          additionalProperties: false,
          oneOf: [{ required: ['builtin'] }, { required: ['program'] }, { required: ['module'] }],
          properties: sorted(service),
        },
      },
    },
  };
}

/** The schema as the checked-in file holds it. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

function sorted(record: Record<string, JsonSchema>): Record<string, JsonSchema> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

/** Where docs/config.md holds {@link configKeysMarkdown}. */
export const KEYS_MARKERS = ['<!-- keys: generated from src/cli/settings.ts by npm run schema -->', '<!-- /keys -->'] as const;

/** The key tables of docs/config.md (between its `keys` markers), from the same table. */
export function configKeysMarkdown(): string {
  const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const header = [row(['Key', 'Type', 'Default', 'Flag', 'Meaning']), row(['---', '---', '---', '---', '---'])];
  const global: string[] = [];
  const service: string[] = [];
  for (const [name, setting] of Object.entries(SETTINGS) as [string, Setting][]) {
    if (setting.key === null) continue;
    const syntax = setting.keySyntax ?? setting.syntax;
    const type = syntax.fromToml !== undefined ? 'table of strings' : `${setting.multiple ? 'array of ' : ''}${syntax.name.replace(/\|/g, '\\|')}`;
    const flag = setting.commands.length === 0 ? 'reserved' : `\`--${name}\` (${setting.commands.filter((command) => command !== 'check').join(', ')})`;
    const kinds = setting.services === undefined || setting.services.length === 3 ? '' : ` Only ${setting.services.map((kind) => `${kind}`).join(', ')} services.`;
    (setting.scope === 'global' ? global : service).push(row([`\`${setting.key}\``, type, setting.default.replace(/\|/g, '\\|'), flag, `${setting.help}.${kinds}`]));
  }
  for (const [key, entry] of Object.entries(KEYS_WITHOUT_FLAGS)) {
    service.push(row([`\`${key}\``, `${'multiple' in entry && entry.multiple ? 'array of ' : ''}${entry.syntax.name.replace(/\|/g, '\\|')}`, key === 'transports' ? 'tcp and udp' : key === 'args' ? '[]' : '', 'none (an argument)', `${entry.help}. Only ${entry.services.join(', ')} services.`]));
  }
  return ['`[global]`:', '', ...header, ...global, '', '`[services.NAME]`:', '', ...header, ...service].join('\n');
}
