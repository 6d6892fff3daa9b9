import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RejectCause, type RejectedConnection } from '../../src/index.ts';
import { Logger } from '../../src/cli/logger.ts';
import { within } from '../helpers/net.ts';
import { RefusalLog } from '../../src/cli/refusal-log.ts';

function rejection(remoteAddress: string, remotePort: number, reason: RejectCause): RejectedConnection {
  const family = remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
  return { cause: reason, error: undefined, info: { remoteAddress, remotePort, remoteFamily: family, localAddress: remoteAddress, localPort: 7, localFamily: family } };
}

function capture(json: boolean) {
  const lines: string[] = [];
  const stream = { write: (text: string) => lines.push(text) };
  return { lines, log: new Logger({ json, stdout: stream, stderr: stream, env: {} }) };
}

const describeReason = (reason: RejectCause): string => (reason === RejectCause.MAX_CONNECTIONS ? 'too many clients (--max-clients 1)' : reason);

describe('RefusalLog', () => {
  it('writes one line for the refusals of an interval, with counts by reason', () => {
    const { lines, log } = capture(false);
    const refusals = new RefusalLog('echo', log, describeReason, 60_000);
    for (let i = 0; i < 150; i++) refusals.record(rejection('127.0.0.1', 40000 + i, RejectCause.MAX_CONNECTIONS));
    for (let i = 0; i < 50; i++) refusals.record(rejection('::1', 50000 + i, RejectCause.DENIED));
    assert.deepEqual(lines, [], 'nothing before the interval ends');
    refusals.flush();
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^warning: echo: refused 200 connections in \d+\.\ds: 150 too many clients \(--max-clients 1\), 50 denied\n$/);
    refusals.flush();
    assert.equal(lines.length, 1, 'nothing pending, nothing written');
  });

  it('names the peer of a lone refusal', () => {
    const { lines, log } = capture(false);
    const refusals = new RefusalLog('echo', log, describeReason, 60_000);
    refusals.record(rejection('::1', 4242, RejectCause.MAX_CONNECTIONS));
    refusals.flush();
    assert.deepEqual(lines, ['warning: refused [::1]:4242 (echo): too many clients (--max-clients 1)\n']);
  });

  it('gives the counts as JSON fields with --json', () => {
    const { lines, log } = capture(true);
    const refusals = new RefusalLog('echo', log, describeReason, 60_000);
    refusals.record(rejection('127.0.0.1', 1, RejectCause.MAX_CONNECTIONS));
    refusals.record(rejection('127.0.0.1', 2, RejectCause.MAX_CONNECTIONS_PER_ADDRESS));
    refusals.record(rejection('127.0.0.1', 3, RejectCause.MAX_CONNECTIONS));
    refusals.flush();
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(typeof record.durationMs, 'number');
    assert.deepEqual({ ...record, time: undefined, msg: undefined, durationMs: undefined }, {
      time: undefined, level: 'warn', event: 'refused', msg: undefined, service: 'echo', total: 3, durationMs: undefined, 'max-connections': 2, 'max-connections-per-address': 1,
    });
  });

  it('writes by itself once the interval has passed', async () => {
    const { lines, log } = capture(false);
    const refusals = new RefusalLog('echo', log, describeReason, 20);
    const written = new Promise<void>((resolve) => {
      const write = log.warn.bind(log);
      log.warn = (...args) => {
        write(...args);
        resolve();
      };
    });
    refusals.record(rejection('127.0.0.1', 1, RejectCause.MAX_CONNECTIONS));
    refusals.record(rejection('127.0.0.1', 2, RejectCause.MAX_CONNECTIONS));
    await within(written, 'the line at the end of the interval');
    assert.match(lines[0]!, /^warning: echo: refused 2 connections in/);
  });
});
