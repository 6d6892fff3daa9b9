/**
 * examples/chat.ts and examples/chat-client.ts, tested the way a user of the package would test
 * their own server: with `switchboard/testing` (a server on loopback, scripted clients, the
 * ledger and leak check) and nothing else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertServerClean, listenLocal, openNetworkHandles, scriptedClient } from 'switchboard/testing';
import chat, { options, setup } from '../../examples/chat.ts';
import { joinChat } from '../../examples/chat-client.ts';

/** The room on 127.0.0.1, port 0, as `switchboard run examples/chat.ts` would serve it. */
async function room(t: Parameters<typeof listenLocal>[0]) {
  const server = await listenLocal(t, options, chat);
  setup(server);
  return server;
}

describe('examples/chat.ts', () => {
  it('welcomes, announces joins, relays lines to the others only, and renames', async (t) => {
    const server = await room(t);
    const alice = await scriptedClient(t, server);
    const welcome = await alice.expect(/^\* welcome, (guest-\d+); 0 other\(s\) here/);
    const aliceName = /guest-\d+/.exec(String(welcome))![0];
    const bob = await scriptedClient(t, server);
    await bob.expect(/^\* welcome, guest-\d+; 1 other\(s\) here/);
    const joined = await alice.expect(/^\* guest-\d+ joined$/);
    const bobName = /guest-\d+/.exec(String(joined))![0];
    bob.send('hello, room');
    await alice.expect(`${bobName}: hello, room`);
    alice.send('/nick alice');
    await alice.expect('* you are alice');
    await bob.expect(`* ${aliceName} is now alice`);
    bob.send('/who');
    await bob.expect(/^\* here: .*alice/);
    alice.send('/quit');
    await alice.expectClose('peer-end');
    await bob.expect('* alice left');
    assert.deepEqual(bob.unread, [], 'bob never hears his own lines');
  });

  it('reassembles lines however the bytes are split', async (t) => {
    const server = await room(t);
    const speaker = await scriptedClient(t, server);
    await speaker.expect(/^\* welcome/);
    const listener = await scriptedClient(t, server);
    await listener.expect(/^\* welcome/);
    await speaker.expect(/joined$/);
    const { seed } = await speaker.sendInSplits(['héllo wörld', 'second line'], { maxPieces: 16 });
    await listener.expect(/: héllo wörld$/, { timeout: 5000 }).catch((error: Error) => assert.fail(`seed ${seed}: ${error.message}`));
    await listener.expect(/: second line$/);
  });

  it('a line over 1 KiB gets its reason, then the connection closes; nobody else is affected', async (t) => {
    const server = await room(t);
    const flooder = await scriptedClient(t, server);
    await flooder.expect(/^\* welcome/);
    const bystander = await scriptedClient(t, server);
    await bystander.expect(/^\* welcome/);
    await flooder.expect(/joined$/);
    flooder.sendRaw(`${'x'.repeat(2000)}\n`);
    await flooder.expect('* line too long (1 KiB at most), bye');
    await flooder.expectClose();
    await bystander.expect(/left$/);
    bystander.send('/who');
    await bystander.expect(/^\* here: guest-\d+$/);
  });

  it('leaves the ledger balanced and nothing open once the room closes', async (t) => {
    const baseline = openNetworkHandles();
    const server = await room(t);
    const guest = await scriptedClient(t, server);
    await guest.expect(/^\* welcome/);
    guest.halfClose();
    await guest.expectClose('local-end');
    await server.close();
    await assertServerClean(server, baseline);
  });
});

describe('examples/chat-client.ts', () => {
  it('joins the room, prints what the room says, and speaks to it', async (t) => {
    const server = await room(t);
    const other = await scriptedClient(t, server);
    await other.expect(/^\* welcome/);
    const printed: string[] = [];
    const connection = await joinChat('localhost', server.addresses[0]!.port, (line) => printed.push(line));
    t.after(() => connection.destroy());
    const joined = await other.expect(/^\* guest-\d+ joined$/);
    const name = /guest-\d+/.exec(String(joined))![0];
    connection.send('hi from the example client');
    await other.expect(`${name}: hi from the example client`);
    other.send('hi back');
    connection.end();
    await connection.closed;
    assert.match(printed[0]!, /^\* welcome, guest-\d+; 1 other\(s\) here/);
    assert.equal(printed.at(-1), '* disconnected (local-end)');
  });

  it('reports a refused connection in Go\'s form', async () => {
    await assert.rejects(joinChat('127.0.0.1', 1, () => {}), { code: 'SWB_ERR_CONNECTION_REFUSED', message: 'dial tcp 127.0.0.1:1: connection refused (ECONNREFUSED)' });
  });
});
