/**
 * Refused connections in the command's log: a flood of them is summarised, one line per second
 * per service with counts by reason, instead of one line each.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectClient, within } from '../helpers/net.ts';
import { startCli } from './cli-process.ts';

const REFUSALS = 200;

/** Opens `count` connections at once and waits until the server has closed every one. */
async function refuseMany(port: number, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const client = await connectClient(undefined, port);
      await within(client.closed, 'a refused connection to close');
    }),
  );
}

describe('switchboard refusals', () => {
  it('summarises 200 refusals in a line a second, with counts by reason', async (t) => {
    const cli = startCli(t, ['serve', 'echo', '--max-clients', '1', '--max-per-ip', '0', '--listen', '127.0.0.1:0']);
    const [echo] = await cli.listening(2);
    const held = await connectClient(t, echo!.port);
    held.send('x');
    await held.waitForText('x');
    const started = performance.now();
    await refuseMany(echo!.port, REFUSALS);
    const summary = /^warning: (?:echo: refused (\d+) connections in \d+\.\ds: \1 too many clients \(--max-clients 1\)|refused 127\.0\.0\.1:\d+ \(echo\): too many clients \(--max-clients 1\))$/;
    const counted = (): number => cli.stderr.lines.filter((line) => summary.test(line)).reduce((sum, line) => sum + Number(summary.exec(line)![1] ?? 1), 0);
    await cli.stderr.waitUntil(() => counted() >= REFUSALS, 'every refusal counted in the log');
    const seconds = (performance.now() - started) / 1000;
    const lines = cli.stderr.lines.filter((line) => line.includes('refused'));
    assert.equal(counted(), REFUSALS);
    assert.ok(lines.length <= Math.ceil(seconds) + 1, `${lines.length} refusal lines in ${seconds.toFixed(1)}s:\n${lines.join('\n')}`);
    assert.deepEqual(lines.filter((line) => !summary.test(line)), [], 'every refusal line is a summary');
    assert.equal((await cli.stop()).code, 0);
  });

  it('gives the counts as fields with --json, and writes what is pending when it closes', async (t) => {
    const cli = startCli(t, ['serve', 'echo', '--json', '--max-clients', '1', '--max-per-ip', '0', '--listen', '127.0.0.1:0']);
    const line = await cli.stdout.waitFor(/"event":"listening","msg":"listening tcp /, 'the listening line');
    const { port } = JSON.parse(line) as { port: number };
    const held = await connectClient(t, port);
    held.send('x');
    await held.waitForText('x');
    await refuseMany(port, 20);
    const stop = cli.stop(); // within the summary's second: the close writes it
    assert.equal((await stop).code, 0);
    const records = cli.stderr.lines.filter((text) => text.includes('"event":"refused"')).map((text) => JSON.parse(text) as Record<string, unknown>);
    assert.equal(records.reduce((sum, record) => sum + (record.total as number), 0), 20);
    for (const record of records) {
      assert.equal(record.service, 'echo');
      assert.equal(record['max-connections'], record.total);
    }
  });
});
