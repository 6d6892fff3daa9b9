/**
 * examples/length-prefixed.ts and examples/length-prefixed-client.ts, tested with
 * `switchboard/testing` only, as a user would test their own binary protocol.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { assertServerClean, listenLocal, openNetworkHandles, scriptedClient } from 'switchboard/testing';
import serve from '../../examples/length-prefixed.ts';
import { Op, call, encodeRequest } from '../../examples/length-prefixed-client.ts';

const ok = (body: string | Buffer) => Buffer.concat([Buffer.of(0x00), Buffer.from(body)]);

describe('examples/length-prefixed.ts', () => {
  it('answers each operation, in order, and errors in-band', async (t) => {
    const server = await listenLocal(t, {}, serve);
    const client = await scriptedClient(t, server, { codec: 'length' });
    client.send(encodeRequest(Op.echo, Buffer.from('abc')), encodeRequest(Op.reverse, Buffer.from('abc')), encodeRequest(Op.sha256, Buffer.from('abc')), Buffer.of(0x09));
    await client.expect(ok('abc'));
    await client.expect(ok('cba'));
    await client.expect(ok(createHash('sha256').update('abc').digest()));
    await client.expect(Buffer.concat([Buffer.of(0x01), Buffer.from('unknown operation 0x09')]));
    client.halfClose(); // our FIN first, so the close is ours (local-end); the server finishes its side
    await client.expectClose('local-end');
  });

  it('frames split anywhere — inside the length field too — are answered whole', async (t) => {
    const server = await listenLocal(t, {}, serve);
    const client = await scriptedClient(t, server, { codec: 'length' });
    const requests = ['one', 'two', 'three'].map((word) => encodeRequest(Op.reverse, Buffer.from(word)));
    const { seed } = await client.sendInSplits(requests, { maxPieces: 20 });
    for (const word of ['eno', 'owt', 'eerht']) await client.expect(ok(word)).catch((error: Error) => assert.fail(`seed ${seed}: ${error.message}`));
  });

  it('a frame over 64 KiB ends that session only; the ledger balances and nothing leaks', async (t) => {
    const baseline = openNetworkHandles();
    const server = await listenLocal(t, {}, serve);
    server.on('error', () => {}); // the oversized frame is reported as that session's handler failure
    const greedy = await scriptedClient(t, server, { codec: 'length' });
    const polite = await scriptedClient(t, server, { codec: 'length' });
    greedy.sendRaw(Buffer.from([0x00, 0x02, 0x00, 0x00])); // announces 128 KiB
    await greedy.expectClose();
    polite.send(encodeRequest(Op.echo, Buffer.from('still here')));
    await polite.expect(ok('still here'));
    await polite.close();
    await server.close();
    await assertServerClean(server, baseline);
  });
});

describe('examples/length-prefixed-client.ts', () => {
  it('pipelines requests on one connection and returns the replies in order', async (t) => {
    const server = await listenLocal(t, {}, serve);
    const replies = await call('127.0.0.1', server.addresses[0]!.port, [encodeRequest(Op.reverse, Buffer.from('stressed')), encodeRequest(Op.echo, Buffer.alloc(0)), Buffer.of(0x42)]);
    assert.deepEqual(replies.map((reply) => [reply.ok, reply.body.toString()]), [[true, 'desserts'], [true, ''], [false, 'unknown operation 0x42']]);
  });
});
