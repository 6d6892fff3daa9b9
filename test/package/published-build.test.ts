/**
 * The package as users get it: emitted `.js` + `.d.ts` (Node will not strip types inside
 * node_modules). Builds into a temporary folder, type-checks a strict consumer against the
 * declarations, runs it on the emitted JavaScript, runs the emitted `switchboard` command, and
 * runs both on a Node.js too old for them when the machine has one.
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
import { unsupportedNodeMessage } from '../../src/features.ts';

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
    await writeFile(join(work, 'package.json'), JSON.stringify({ type: 'module' }));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('type-checks and runs for a strict consumer, and ships a working command', async () => {
    await writeFile(join(work, 'consumer.ts'), consumer);
    await writeFile(
      join(work, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2024', lib: ['es2024', 'esnext.disposable'], module: 'nodenext', moduleResolution: 'nodenext',
          strict: true, types: ['node'], skipLibCheck: false, outDir: 'out',
        },
        files: ['consumer.ts'],
      }),
    );
    await run(process.execPath, [tsc, '-p', work], { cwd: work, timeout: 120_000 });
    const { stdout } = await run(process.execPath, [join(work, 'out', 'consumer.js')], { cwd: work, timeout: 20_000 });
    assert.deepEqual(JSON.parse(stdout), { ok: true, code: 'SWB_ERR_ADDRESS_IN_USE' });
    const version = await run(process.execPath, [join(pkg, 'dist', 'cli', 'main.js'), '--version'], { timeout: 20_000 });
    assert.equal(version.stdout.trim(), packageJson.version);
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
});
