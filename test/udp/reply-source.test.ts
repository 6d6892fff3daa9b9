import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { UdpServerStats } from '../../src/index.ts';
import { runNodeInNetns, skipWithoutNetns } from '../helpers/netns.ts';
import { createMultiHomedPair, startNodeInNetns } from './helpers/multihomed.ts';

const serverScript = fileURLToPath(new URL('./fixtures/reply-source-server.ts', import.meta.url));
const clientScript = fileURLToPath(new URL('./fixtures/reply-source-client.ts', import.meta.url));

interface Ready {
  switchboard: { port: number; addresses: string[] };
  raw: { v4: number; v6: number };
}

interface WildcardProbe {
  replySource: string;
  connected: { received: number; noPorts: number };
  primary: { received: number; noPorts: number };
}

interface ClientReport {
  switchboard: Record<string, { data: string; from: string }>;
  raw: { v4: WildcardProbe; v6: WildcardProbe };
}

describe('UDP reply source on a multi-homed host (network namespaces)', () => {
  it('Switchboard answers from the address the client targeted; raw dgram on a wildcard does not', async (t) => {
    if (skipWithoutNetns(t)) return;
    const pair = await createMultiHomedPair(t);
    const server = await startNodeInNetns<Ready, UdpServerStats>(t, pair.server, serverScript);
    const report = await runNodeInNetns<ClientReport>(pair.client, clientScript, [JSON.stringify(server.ready)]);
    const ledger = await server.stop();

    await t.test("Switchboard on '*' binds one socket per interface address", () => {
      const addresses = server.ready.switchboard.addresses;
      for (const address of ['127.0.0.1', '192.0.2.1', '192.0.2.2', '::1', '2001:db8::1', '2001:db8::2']) assert.ok(addresses.includes(address), `${address} in ${addresses.join(', ')}`);
      assert.ok(addresses.some((address) => /^fe80:.*%v0$/.test(address)), 'the link-local address, with its zone');
    });

    await t.test('every connected client gets its reply from the address it sent to, secondary and deprecated ones included', () => {
      const targets = Object.keys(report.switchboard);
      assert.equal(targets.length, 5);
      for (const [target, reply] of Object.entries(report.switchboard)) {
        assert.deepEqual(reply, { data: `to ${target}`, from: target }, target);
      }
      assert.equal(ledger.datagramsIn, 5);
      assert.equal(ledger.datagramsOut, 5);
      assert.equal(ledger.listeners, 0);
    });

    await t.test('raw dgram on 0.0.0.0 answers a request to the secondary 192.0.2.2 from the primary 192.0.2.1, and a connected client discards it', () => {
      assert.equal(report.raw.v4.replySource, '192.0.2.1');
      assert.deepEqual(report.raw.v4.connected, { received: 0, noPorts: 1 });
      assert.deepEqual(report.raw.v4.primary, { received: 1, noPorts: 0 }, 'the primary address is fine');
    });

    await t.test('raw dgram on :: answers a request to the deprecated 2001:db8::2 from 2001:db8::1, and a connected client discards it', () => {
      assert.equal(report.raw.v6.replySource, '2001:db8::1');
      assert.deepEqual(report.raw.v6.connected, { received: 0, noPorts: 1 });
      assert.deepEqual(report.raw.v6.primary, { received: 1, noPorts: 0 });
    });
  });
});
