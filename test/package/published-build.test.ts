/**
 * The package as users get it: emitted `.js` + `.d.ts` (Node will not strip types inside
 * node_modules). Builds into a temporary folder, type-checks a strict consumer against the
 * declarations, runs it on the emitted JavaScript, and runs the emitted `switchboard` command.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

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

describe('the published build', () => {
  it('type-checks and runs for a strict consumer, and ships a working command', async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'switchboard-package-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    const pkg = join(work, 'node_modules', 'switchboard');
    await mkdir(pkg, { recursive: true });
    await cp(join(root, 'package.json'), join(pkg, 'package.json'));
    await run(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { cwd: root, timeout: 120_000 });
    await symlink(join(root, 'node_modules', '@types'), join(work, 'node_modules', '@types'));
    await writeFile(join(work, 'package.json'), JSON.stringify({ type: 'module' }));
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
    assert.equal(version.stdout.trim(), JSON.parse(await (await import('node:fs/promises')).readFile(join(root, 'package.json'), 'utf8')).version);
  });
});
