/**
 * The diagnostics channels: fixed names, session open → close once per session in order with
 * its reason, refusals with theirs, listen and TLS handshakes traced, UDP drops summarised — and
 * with nobody subscribed, nothing is published at all.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { channel, subscribe, tracingChannel, unsubscribe } from 'node:diagnostics_channel';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import {
  CloseCause,
  DiagnosticsChannel,
  RejectCause,
  listenUdp,
  type ConnectionRejectMessage,
  type DatagramDropMessage,
  type ProxyHeaderMessage,
  type SessionCloseMessage,
  type SessionOpenMessage,
  type TlsHandshakeContext,
} from '../../src/index.ts';
import { encodeProxyHeader } from '../../src/index.ts';
import { connectionRejectChannel, datagramDropChannel, proxyHeaderChannel, serverListenChannel, sessionCloseChannel, sessionOpenChannel, tlsHandshakeChannel } from '../../src/server/diagnostics.ts';
import { createTestCertificates, pemPair, type TestCertificates } from '../helpers/certs.ts';
import { listenLocal, until, within } from '../helpers/net.ts';

let certs: TestCertificates;
before(async () => {
  certs = await createTestCertificates();
});
after(() => certs.remove());

/** Subscribes `listener` to `name` for the rest of the test. */
function watch(t: TestContext, name: string, listener: (message: unknown) => void): void {
  subscribe(name, listener);
  t.after(() => void unsubscribe(name, listener));
}

function closeOf(socket: { on(event: 'close', fn: () => void): unknown }): Promise<void> {
  return within(new Promise<void>((resolve) => socket.on('close', () => resolve())), 'the client to close');
}

describe('diagnostics channels', () => {
  it('are named switchboard.<area>.<event>, created once', () => {
    for (const name of Object.values(DiagnosticsChannel)) assert.match(name, /^switchboard\.[a-z]+\.[a-z]+$/);
    assert.equal(channel(DiagnosticsChannel.SESSION_OPEN), sessionOpenChannel);
    assert.equal(channel(DiagnosticsChannel.SESSION_CLOSE), sessionCloseChannel);
  });

  it('publish nothing while nobody subscribes: hasSubscribers is false and publish is never called', async (t) => {
    const channels = [sessionOpenChannel, sessionCloseChannel, connectionRejectChannel, datagramDropChannel];
    for (const each of channels) assert.equal(each.hasSubscribers, false);
    assert.equal(serverListenChannel.hasSubscribers, false);
    assert.equal(tlsHandshakeChannel.hasSubscribers, false);
    // Spies as own properties; deleting them restores the prototype's (which Node swaps on subscribe).
    let published = 0;
    for (const each of channels) each.publish = () => void published++;
    tlsHandshakeChannel.tracePromise = ((fn: () => Promise<unknown>) => (published++, fn())) as typeof tlsHandshakeChannel.tracePromise;
    t.after(() => {
      for (const each of channels) delete (each as { publish?: unknown }).publish;
      delete (tlsHandshakeChannel as { tracePromise?: unknown }).tracePromise;
    });
    const server = await listenLocal(t, { maxConnections: 1, tls: pemPair(certs.server) }, { open: (session) => { session.write('bye\n'); session.end(); } });
    server.on('warning', () => {}); // the not-tls summary
    const port = server.addresses[0]!.port;
    const client = tlsConnect({ port, host: '127.0.0.1', ca: certs.ca.cert, servername: 'localhost' });
    client.resume();
    client.on('error', () => {});
    await closeOf(client);
    const garbage = connect(port, '127.0.0.1', () => garbage.write('not tls\r\n'));
    garbage.on('error', () => {});
    await closeOf(garbage);
    await until(() => server.stats().closed === 2, 'both connections to close');
    assert.equal(server.stats().rejected, 1);
    assert.equal(published, 0);
  });

  it('session.open then session.close exactly once per session, in order, with the close reason', async (t) => {
    const events: { event: string; id: number; cause?: string }[] = [];
    const ledgers: string[] = [];
    const server = await listenLocal(t, { idleTimeout: 100 }, {
      data(session, chunk) {
        if (chunk.toString().startsWith('end')) session.end();
        else if (chunk.toString().startsWith('destroy')) session.destroy();
      },
    });
    watch(t, DiagnosticsChannel.SESSION_OPEN, (message) => {
      const { server: from, session } = message as SessionOpenMessage;
      if (from === server) events.push({ event: 'open', id: session.id });
    });
    watch(t, DiagnosticsChannel.SESSION_CLOSE, (message) => {
      const { server: from, session, reason } = message as SessionCloseMessage;
      if (from !== server) return;
      events.push({ event: 'close', id: session.id, cause: reason.cause });
      // A subscriber reading the ledger from inside the message sees it whole.
      const stats = server.stats();
      if (stats.accepted !== stats.closed + stats.sessions + stats.pending) ledgers.push(JSON.stringify(stats));
    });
    const port = server.addresses[0]!.port;
    const behaviours = ['peer-end', 'end', 'destroy', 'reset', 'idle'] as const;
    const expected: Record<(typeof behaviours)[number], string> = {
      'peer-end': CloseCause.PEER_END,
      end: CloseCause.LOCAL_END,
      destroy: CloseCause.LOCAL_DESTROY,
      reset: CloseCause.PEER_RESET,
      idle: CloseCause.IDLE_TIMEOUT,
    };
    const causes: string[] = [];
    for (const behaviour of behaviours) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume();
      const closed = closeOf(socket);
      await within(new Promise((resolve) => socket.once('connect', resolve)), 'connect');
      await until(() => server.stats().sessions === 1, 'the session to open');
      if (behaviour === 'peer-end') socket.end();
      else if (behaviour === 'end') socket.write('end\n');
      else if (behaviour === 'destroy') socket.write('destroy\n');
      else if (behaviour === 'reset') socket.resetAndDestroy();
      await closed;
      await until(() => server.stats().sessions === 0, `the ${behaviour} session to close`);
      causes.push(expected[behaviour]);
    }
    const ids = [...new Set(events.map((event) => event.id))];
    assert.equal(ids.length, behaviours.length);
    for (const [index, id] of ids.entries()) {
      const mine = events.filter((event) => event.id === id);
      assert.deepEqual(mine, [{ event: 'open', id }, { event: 'close', id, cause: causes[index] }], `session ${id}`);
    }
    assert.deepEqual(ledgers, [], 'accepted === closed + sessions + pending inside every close message');
  });

  it('connection.reject carries the cause; the TLS handshake is traced start → asyncEnd, error on failure', async (t) => {
    const server = await listenLocal(t, { maxConnections: 1, tls: pemPair(certs.server) }, { open: (session) => void session.write('hi\n') });
    server.on('warning', () => {}); // the not-tls summary
    const rejects: string[] = [];
    watch(t, DiagnosticsChannel.CONNECTION_REJECT, (message) => {
      const reject = message as ConnectionRejectMessage;
      if (reject.server === server) rejects.push(reject.cause);
    });
    const traced: string[] = [];
    const handlers = {
      start: (context: object) => traced.push(`start ${(context as TlsHandshakeContext).mode}`),
      end: () => traced.push('end'),
      asyncStart: () => traced.push('asyncStart'),
      asyncEnd: () => traced.push('asyncEnd'),
      error: (context: object) => traced.push(`error ${((context as { error: { code: string } }).error).code}`),
    };
    tracingChannel(DiagnosticsChannel.TLS_HANDSHAKE).subscribe(handlers);
    t.after(() => tracingChannel(DiagnosticsChannel.TLS_HANDSHAKE).unsubscribe(handlers));
    const port = server.addresses[0]!.port;
    const good = tlsConnect({ port, host: '127.0.0.1', ca: certs.ca.cert, servername: 'localhost' });
    good.on('error', () => {});
    await within(new Promise((resolve) => good.once('data', resolve)), 'the greeting');
    assert.deepEqual(traced, ['start implicit', 'end', 'asyncStart', 'asyncEnd']);
    traced.length = 0;
    // The one slot is taken: refused at admission, before any handshake.
    const full = connect(port, '127.0.0.1');
    full.on('error', () => {});
    await closeOf(full);
    good.destroy();
    await until(() => server.stats().sessions === 0, 'the session to close');
    const garbage = connect(port, '127.0.0.1', () => garbage.write('not tls\r\n'));
    garbage.on('error', () => {});
    await closeOf(garbage);
    await until(() => rejects.length === 2, 'two refusals');
    assert.deepEqual(rejects, [RejectCause.MAX_CONNECTIONS, RejectCause.TLS_HANDSHAKE]);
    assert.deepEqual(traced, ['start implicit', 'end', 'error SWB_ERR_TLS_NOT_TLS', 'asyncStart', 'asyncEnd']);
  });

  it('traces listen with the server as context and the bound addresses as result', async (t) => {
    const seen: string[] = [];
    const handlers = {
      start: (context: object) => seen.push(`start ${(context as { transport: string }).transport}`),
      end: () => {},
      asyncStart: () => {},
      asyncEnd: (context: object) => seen.push(`asyncEnd ${((context as { result: { port: number }[] }).result).length}`),
      error: () => seen.push('error'),
    };
    tracingChannel(DiagnosticsChannel.SERVER_LISTEN).subscribe(handlers);
    t.after(() => tracingChannel(DiagnosticsChannel.SERVER_LISTEN).unsubscribe(handlers));
    await listenLocal(t, {});
    assert.deepEqual(seen, ['start tcp', 'asyncEnd 1']);
  });

  it('proxy.header: one message per TCP header read or refused, per UDP datagram, with the balancer and the client', async (t) => {
    const messages: ProxyHeaderMessage[] = [];
    watch(t, DiagnosticsChannel.PROXY_HEADER, (message) => messages.push(message as ProxyHeaderMessage));
    const server = await listenLocal(t, { proxyProtocol: { from: ['127.0.0.0/8'] } }, { data: (session, chunk) => void session.write(chunk) });
    server.on('rejected', () => {});
    const port = server.addresses[0]!.port;
    const client = { address: '198.51.100.7', port: 40_001 };
    const front = { address: '192.0.2.80', port: 443 };
    const send = (bytes: Buffer): Promise<void> => {
      const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
      socket.on('error', () => {});
      socket.resume();
      return closeOf(socket);
    };
    await send(Buffer.concat([encodeProxyHeader({ version: 1, source: client, destination: front }), Buffer.from('hello')]));
    await send(Buffer.concat([encodeProxyHeader({ version: 2, command: 'local' })]));
    await send(Buffer.from('PROXY TCP4 nonsense\r\n'));
    await send(Buffer.from('PROXY TCP4 198.51.100.7')); // cut short by the FIN
    assert.deepEqual(messages.map((m) => [m.transport, m.version, m.header?.command, m.error?.code, m.client && `${m.client.address}:${m.client.port}`, m.destination?.address]), [
      ['tcp', 1, 'proxy', undefined, '198.51.100.7:40001', '192.0.2.80'],
      ['tcp', 2, 'local', undefined, undefined, undefined],
      ['tcp', 1, undefined, 'SWB_ERR_PROXY_BAD_HEADER', undefined, undefined],
      ['tcp', 1, undefined, 'SWB_ERR_PROXY_TRUNCATED', undefined, undefined],
    ]);
    for (const message of messages) {
      assert.equal(message.server, server);
      assert.equal(message.balancer.address, '127.0.0.1');
      assert.equal(message.balancer.family, 'IPv4');
    }
    messages.length = 0;
    const udp = await listenUdp({ host: '127.0.0.1', port: 0, proxyProtocol: { from: ['127.0.0.0/8'] } }, (datagram) => void datagram.reply(datagram.data));
    t.after(() => udp.destroy());
    const sender = createSocket('udp4');
    t.after(() => new Promise<void>((resolve) => sender.close(() => resolve())));
    sender.send(Buffer.concat([encodeProxyHeader({ version: 2, source: client, destination: front, transport: 'dgram' }), Buffer.from('ping')]), udp.addresses[0]!.port, '127.0.0.1');
    sender.send('no header', udp.addresses[0]!.port, '127.0.0.1');
    await until(() => messages.length === 2, 'both datagrams reported');
    assert.deepEqual(messages.map((m) => [m.server === udp, m.transport, m.client?.address, m.error?.code]).sort(), [
      [true, 'udp', '198.51.100.7', undefined],
      [true, 'udp', undefined, 'SWB_ERR_PROXY_HEADER_MISSING'],
    ].sort());
  });

  it('proxy.header publishes nothing while nobody subscribes', async (t) => {
    assert.equal(proxyHeaderChannel.hasSubscribers, false);
    let published = 0;
    proxyHeaderChannel.publish = () => void published++;
    t.after(() => void delete (proxyHeaderChannel as { publish?: unknown }).publish);
    const server = await listenLocal(t, { proxyProtocol: { from: ['127.0.0.0/8'] } }, { data: (session, chunk) => void session.write(chunk) });
    server.on('rejected', () => {});
    for (const bytes of [encodeProxyHeader({ version: 2, command: 'local' }), Buffer.from('no header\r\n')]) {
      const socket = connect(server.addresses[0]!.port, '127.0.0.1', () => socket.end(bytes));
      socket.on('error', () => {});
      socket.resume();
      await closeOf(socket);
    }
    assert.deepEqual(server.stats().proxy!.headers, { v1: 0, v2: 1 });
    assert.equal(published, 0);
  });

  it('datagram.drop publishes the UDP drop summary, once per interval', async (t) => {
    const server = await listenUdp({ host: '127.0.0.1', port: 0, maxDatagramSize: 16, dropReportInterval: 50 }, () => {});
    t.after(() => server.destroy());
    const summaries: DatagramDropMessage[] = [];
    watch(t, DiagnosticsChannel.DATAGRAM_DROP, (message) => summaries.push(message as DatagramDropMessage));
    server.on('drop', () => {});
    const client = createSocket('udp4');
    t.after(() => new Promise<void>((resolve) => client.close(() => resolve())));
    for (let i = 0; i < 5; i++) client.send(Buffer.alloc(64), server.addresses[0]!.port, '127.0.0.1');
    await until(() => summaries.reduce((sum, { summary }) => sum + summary.total, 0) === 5, 'the drops to be summarised');
    assert.ok(summaries.length < 5, 'summarised, not one message per datagram');
    assert.equal(summaries[0]!.server, server);
    assert.equal(summaries[0]!.summary.causes['too-large'], summaries[0]!.summary.total);
  });
});
