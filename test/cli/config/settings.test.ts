/** The settings table: every flag of every command is in it, every flag has a key and every key a flag (the exceptions listed), and the published JSON Schema is the table's. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CHECK_OPTIONS } from '../../../src/cli/commands/check.ts';
import { EXEC_OPTIONS } from '../../../src/cli/commands/exec.ts';
import { RELOAD_OPTIONS, UPGRADE_OPTIONS } from '../../../src/cli/commands/reload.ts';
import { RUN_OPTIONS } from '../../../src/cli/commands/run.ts';
import { SERVE_OPTIONS } from '../../../src/cli/commands/serve.ts';
import { UP_OPTIONS } from '../../../src/cli/commands/up.ts';
import { KEYS_MARKERS, configJsonSchemaText, configKeysMarkdown } from '../../../src/cli/config/json-schema.ts';
import { parseConfig } from '../../../src/cli/config/load-config.ts';
import { FLAGS_WITHOUT_KEYS, KEYS_WITHOUT_FLAGS, SETTINGS, flagsOf, type CommandName, type Setting } from '../../../src/cli/settings.ts';
import { normalizeTcpServerOptions } from '../../../src/tcp/tcp-options.ts';
import { parseByteSize, parseDuration } from '../../../src/cli/values.ts';

const COMMANDS: Record<CommandName, object> = { serve: SERVE_OPTIONS, exec: EXEC_OPTIONS, run: RUN_OPTIONS, up: UP_OPTIONS, check: CHECK_OPTIONS, reload: RELOAD_OPTIONS, upgrade: UPGRADE_OPTIONS };
const entries = Object.entries(SETTINGS) as [keyof typeof SETTINGS, Setting][];

describe('settings table', () => {
  it('lists exactly the flags each command parses', () => {
    for (const [command, options] of Object.entries(COMMANDS)) {
      assert.deepEqual(Object.keys(options).sort(), flagsOf(command as CommandName).sort(), command);
    }
  });

  it('gives each flag the parseArgs config of its entry', () => {
    for (const options of Object.values(COMMANDS)) {
      for (const [name, config] of Object.entries(options) as [keyof typeof SETTINGS, { type: string; short?: string; multiple?: boolean }][]) {
        const setting: Setting = SETTINGS[name];
        assert.equal(config.type, setting.type, name);
        assert.equal(config.short, setting.short, name);
        assert.equal(config.multiple ?? false, setting.multiple ?? false, name);
      }
    }
  });

  it('gives every flag a key, but for the listed exceptions', () => {
    const withoutKeys = entries.filter(([, setting]) => setting.key === null).map(([name]) => name);
    assert.deepEqual(withoutKeys.sort(), Object.keys(FLAGS_WITHOUT_KEYS).sort());
  });

  it('gives every key a flag, but for the listed exceptions (which service it is) and the reserved ones', () => {
    const keys = new Set(entries.map(([, setting]) => setting.key));
    for (const key of Object.keys(KEYS_WITHOUT_FLAGS)) assert.ok(!keys.has(key), `${key} is both`);
    assert.deepEqual(Object.keys(KEYS_WITHOUT_FLAGS).sort(), ['args', 'builtin', 'module', 'program', 'transports']);
    const reserved = entries.filter(([, setting]) => setting.commands.length === 0).map(([name]) => name);
    assert.deepEqual(reserved, [], 'a key whose flag is still to come (its issue adds the flag)');
  });

  it('names each key as its flag, but --json (log-format)', () => {
    const renamed = entries.filter(([name, setting]) => setting.key !== null && setting.key !== name).map(([name, setting]) => `${name}=${setting.key}`);
    assert.deepEqual(renamed, ['json=log-format']);
  });

  it('accepts every key in the file, read with its flag syntax', () => {
    for (const [name, setting] of entries) {
      if (setting.key === null || setting.commands.length === 0) continue;
      const service = '[services.s]\nprogram = "cat"\nlisten = ["127.0.0.1:0"]';
      const section = setting.scope === 'global' ? `${service}\n[global]` : service;
      if (setting.scope === 'service' && (setting.services as readonly string[]).includes('exec') === false) continue;
      const value = { boolean: 'true', 'datagrams/s': '"5/s"', 'bytes/s': '"1KiB/s"', duration: '"1s"', integer: '1', address: '"127.0.0.1:1"', path: '"x"', user: '"root"', 'required|optional': '"optional"', 'text|json': '"json"', 'NAME=VALUE': '{ A = "b" }', 'address or prefix': '"192.0.2.0/24"', bytes: '"1KiB"', 'refuse|direct': '"direct"', 'address or systemd:NAME': '"systemd:web"' }[setting.syntax.name === 'boolean' && setting.keySyntax ? setting.keySyntax.name : setting.syntax.name];
      assert.ok(value !== undefined, `a sample for ${setting.syntax.name}`);
      let text = `${section}\n${setting.key} = ${setting.multiple && setting.syntax.fromToml === undefined ? `[${value}]` : value}\n`;
      if (name === 'tls-cert' || name === 'tls-key') text += name === 'tls-cert' ? 'tls-key = "k"\n' : 'tls-cert = "c"\n';
      if (name === 'tls-ca' || name === 'tls-client-cert') text += 'tls-cert = "c"\ntls-key = "k"\n';
      if (name === 'listen') text = text.replace('listen = ["127.0.0.1:0"]\n', '');
      if (name === 'proxy-untrusted') text += 'proxy-protocol = ["127.0.0.1"]\n';
      const result = parseConfig(text, '/tmp/s.toml');
      assert.equal(result.problems, undefined, `${name}: ${JSON.stringify(result.problems)}`);
    }
  });

  it("documents the library's defaults for the flags that had none", () => {
    const library = normalizeTcpServerOptions({}).limits;
    assert.equal(parseByteSize(SETTINGS['max-output'].default, 'x', -1), library.maxBufferedOutput);
    assert.equal(parseDuration(SETTINGS['first-byte-timeout'].default, 'x', -1), library.firstByteTimeout);
    assert.equal(parseDuration(SETTINGS['max-lifetime'].default, 'x', -1), library.maxLifetime);
    assert.equal(Number(SETTINGS['accept-rate'].default), library.throttle.acceptRate);
  });
});

describe('switchboard.schema.json', () => {
  it('is the one the table makes (npm run schema writes it)', () => {
    const file = readFileSync(new URL('../../../switchboard.schema.json', import.meta.url), 'utf8');
    assert.equal(file, configJsonSchemaText());
  });

  it('docs/config.md lists every key, as the table says (npm run schema writes it)', () => {
    const docs = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8');
    const [start, end] = KEYS_MARKERS;
    assert.equal(docs.slice(docs.indexOf(start) + start.length, docs.indexOf(end)).trim(), configKeysMarkdown());
  });

  it('is published', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { files: string[] };
    assert.ok(pkg.files.includes('switchboard.schema.json'));
  });

  it('has every key of the table', () => {
    const schema = JSON.parse(configJsonSchemaText()) as { properties: { global: { properties: object }; services: { additionalProperties: { properties: object } } } };
    const keys = [...Object.keys(schema.properties.global.properties), ...Object.keys(schema.properties.services.additionalProperties.properties)].sort();
    const expected = [...entries.flatMap(([, setting]) => (setting.key === null ? [] : [setting.key])), ...Object.keys(KEYS_WITHOUT_FLAGS)].sort();
    assert.deepEqual(keys, expected);
  });
});
