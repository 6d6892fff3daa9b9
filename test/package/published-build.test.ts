/**
 * The package as users get it: emitted `.js` + `.d.ts` (Node will not strip types inside
 * node_modules). Builds into a temporary folder, type-checks a strict consumer and the
 * repository's examples (and their tests, through `switchboard/testing`) against the declarations,
 * runs them on the emitted JavaScript, runs the
 * emitted `switchboard` command, runs both on a Node.js too old for them when the machine has
 * one, and lists what `npm pack` would publish.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { unsupportedNodeMessage } from '../../src/core/platform.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const packageJson = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };

const consumer = `
import { listen, listenUdp, framed, createLineCodec, ErrorCode, type CloseReason } from 'switchboard';
const tcp = await listen({ host: '127.0.0.1', port: 0 }, {
  data(session, chunk) { session.write(chunk); },
  close(_session, reason: CloseReason) { void reason.cause; },
});
const udp = await listenUdp({ host: '127.0.0.1' }, { message(datagram) { datagram.reply(datagram.data); } });
const lines = await listen({ host: '127.0.0.1' }, framed(() => createLineCodec(), {
  frame(session, line) { session.send(line.toUpperCase()); },
}));
await Promise.all([tcp.close(), udp.close(), lines.close()]);
console.log(JSON.stringify({ ok: true, code: ErrorCode.ADDRESS_IN_USE }));
`;

// The testing subpath, as a user's test would use it with a runner of its own (here: none at all).
const kitConsumer = `
import { createLineCodec, framed } from 'switchboard';
import { assertServerClean, listenLocal, openNetworkHandles, scriptedClient, type Cleanup } from 'switchboard/testing';
const cleanups: Cleanup[] = [];
const baseline = openNetworkHandles();
const server = await listenLocal((fn: Cleanup) => cleanups.push(fn), {}, framed(() => createLineCodec(), { frame(session, line) { session.send(line.toUpperCase()); } }));
const client = await scriptedClient({ onTestFinished: (fn: Cleanup) => cleanups.push(fn) }, server);
client.send('hi');
const reply = await client.expect('HI');
for (const cleanup of cleanups.reverse()) await cleanup();
await assertServerClean(server, baseline);
console.log(JSON.stringify({ ok: true, reply }));
`;

/** A `node` on PATH (or the system's) older than the package supports, if the machine has one. */
function findOldNode(): { path: string; version: string } | undefined {
  const candidates = [...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'node')), '/usr/bin/node', '/usr/local/bin/node'];
  for (const path of new Set(candidates)) {
    if (!existsSync(path)) continue;
    const result = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    const version = result.stdout?.trim().replace(/^v/, '');
    if (result.status === 0 && version && unsupportedNodeMessage(version) !== undefined) return { path, version };
  }
  return undefined;
}

describe('the published build', () => {
  let work: string;
  let pkg: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'switchboard-package-'));
    pkg = join(work, 'node_modules', 'switchboard');
    await mkdir(pkg, { recursive: true });
    await cp(join(root, 'package.json'), join(pkg, 'package.json'));
    await run(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: root, timeout: 120_000 });
    await symlink(join(root, 'node_modules', '@types'), join(work, 'node_modules', '@types'));
    // The package's dependencies, where npm would install them: smol-toml, the command's TOML parser.
    await symlink(join(root, 'node_modules', 'smol-toml'), join(work, 'node_modules', 'smol-toml'));
    await writeFile(join(work, 'package.json'), JSON.stringify({ type: 'module' }));
    for (const file of ['README.md', 'LICENSE', 'docs', 'switchboard.schema.json']) await cp(join(root, file), join(pkg, file), { recursive: true });
    await cp(join(root, 'examples'), join(work, 'examples'), { recursive: true });
    // The examples' own tests import 'switchboard/testing' as a user's tests would.
    await cp(join(root, 'test', 'examples'), join(work, 'test', 'examples'), { recursive: true });
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('type-checks and runs for a strict consumer, and ships a working command', async () => {
    await writeFile(join(work, 'consumer.ts'), consumer);
    await writeFile(join(work, 'kit-consumer.ts'), kitConsumer);
    await writeFile(
      join(work, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2024', lib: ['es2024', 'esnext.disposable'], module: 'nodenext', moduleResolution: 'nodenext',
          strict: true, types: ['node'], skipLibCheck: false, outDir: 'out',
          // The examples' tests import the examples as `.ts`, as this repository's sources do.
          rewriteRelativeImportExtensions: true,
        },
        files: [
          'consumer.ts', 'kit-consumer.ts', 'examples/chat.ts', 'examples/chat-client.ts', 'examples/echo-server.ts', 'examples/length-prefixed.ts',
          'examples/length-prefixed-client.ts', 'test/examples/chat.test.ts', 'test/examples/length-prefixed.test.ts',
        ],
      }),
    );
    await run(process.execPath, [tsc, '-p', work], { cwd: work, timeout: 120_000 });
    const { stdout } = await run(process.execPath, [join(work, 'out', 'consumer.js')], { cwd: work, timeout: 20_000 });
    assert.deepEqual(JSON.parse(stdout), { ok: true, code: 'SWB_ERR_ADDRESS_IN_USE' });
    const kit = await run(process.execPath, [join(work, 'out', 'kit-consumer.js')], { cwd: work, timeout: 20_000 });
    assert.deepEqual(JSON.parse(kit.stdout), { ok: true, reply: 'HI' });
    // The examples import the package by its name, as a user's copy of them would.
    const example = "import('./out/examples/length-prefixed.js').then(({ respond }) => console.log(respond(Buffer.from('\\x02abc')).toString('hex')))";
    const reversed = await run(process.execPath, ['--input-type=module', '-e', example], { cwd: work, timeout: 20_000 });
    assert.equal(reversed.stdout.trim(), '00636261');
    const version = await run(process.execPath, [join(pkg, 'dist', 'cli', 'main.js'), '--version'], { timeout: 20_000 });
    assert.equal(version.stdout.trim(), packageJson.version);
    // The config file reader, with its dependency as installed.
    const checked = await run(process.execPath, [join(pkg, 'dist', 'cli', 'main.js'), 'check', 'examples/switchboard.toml'], { cwd: work, timeout: 20_000 });
    assert.match(checked.stdout, /^examples\/switchboard\.toml: ok, 4 service\(s\)/);
  });

  it('says which Node.js it needs, at load, when run on an older one', async (t) => {
    const old = findOldNode();
    if (!old) return t.skip('SKIPPED LOUDLY: no Node.js older than 22.12 on this machine (Debian\'s nodejs package is one)');
    const message = `Switchboard needs Node.js 22.12 or newer; this is Node.js ${old.version}`;
    const cli = spawnSync(old.path, [join(pkg, 'dist', 'cli', 'main.js'), 'serve', '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20_000 });
    assert.deepEqual({ status: cli.status, stdout: cli.stdout, stderr: cli.stderr }, { status: 1, stdout: '', stderr: `switchboard: ${message}\n` });
    const program = "import('switchboard').then(() => console.log('loaded'), (error) => console.log(JSON.stringify({ code: error.code, message: error.message })))";
    const library = spawnSync(old.path, ['--input-type=module', '-e', program], { cwd: work, encoding: 'utf8', timeout: 20_000 });
    assert.deepEqual(JSON.parse(library.stdout), { code: 'SWB_ERR_UNSUPPORTED_NODE', message });
  });

  it('publishes the build, its licence and docs: no source, no examples, no source maps pointing at either', async (t) => {
    if (spawnSync('npm', ['--version'], { stdio: 'ignore' }).status !== 0) return t.skip('SKIPPED LOUDLY: npm is not installed');
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg, timeout: 60_000, env: { ...process.env, npm_config_update_notifier: 'false' } });
    const [packed] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const files = packed.files.map((file) => file.path);
    for (const needed of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'docs/cli.md', 'dist/observability/status-page.js', 'docs/observability.md', 'docs/status-page.png', 'switchboard.schema.json']) assert.ok(files.includes(needed), `${needed} is published`);
    assert.deepEqual(files.filter((file) => !/^(dist|docs)\//.test(file) && !['LICENSE', 'README.md', 'package.json', 'switchboard.schema.json'].includes(file)), [], 'nothing else at the top');
    assert.deepEqual(files.filter((file) => file.endsWith('.map')), [], 'no source maps');
    for (const file of files.filter((path) => path.endsWith('.js'))) {
      assert.doesNotMatch(await readFile(join(pkg, file), 'utf8'), /sourceMappingURL/, `${file} points at no map`);
    }
    assert.match(await readFile(join(pkg, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) \d{4} Switchboard contributors\n/);
    const manifest = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { license: string; bin: Record<string, string>; exports: Record<string, Record<string, string> | string> };
    assert.equal(manifest.license, 'MIT');
    // Every export and the command are in the package, but the repository's own condition (src/, for its scripts).
    const targets = [...Object.values(manifest.bin), ...Object.values(manifest.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.entries(entry).filter(([condition]) => condition !== 'switchboard-source').map(([, target]) => target)))];
    for (const target of targets) assert.ok(files.includes(target.replace(/^\.\//, '')), `${target} is published`);
  });
});
