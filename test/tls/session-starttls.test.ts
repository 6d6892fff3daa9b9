/**
 * `session.startTls()` on servers with `tls: { mode: 'starttls' }`, in every session style:
 * the upgrade for real STARTTLS clients, plaintext pipelined after the command refused (the
 * CVE-2011-0411 class), the deadline, misuse, and a server closing mid-upgrade.
 */
import '../helpers/leak-check.ts';
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { createLineCodec, framed, type CloseReason, type EventSession, type FramedAsyncSession, type FramedEventSession, type SwitchboardError, type TcpHandler, type TcpSession, type TlsInfo } from '../../src/index.ts';
import { createTestCertificates, pemPair, type TestCertificates } from '../helpers/certs.ts';
import { connectClient, deferred, listenLocal, until, within, type TestClient } from '../helpers/net.ts';
import { runPeer, skipWithout } from './peers.ts';

let certs: TestCertificates;
before(async () => {
  certs = await createTestCertificates();
});
after(() => certs.remove());

const GO_AHEAD = '220 2.0.0 Ready to start TLS\r\n';
const BYE = '221 2.0.0 bye\r\n';
const ATTACK = 'EHLO attacker\r\nSTARTTLS\r\nRCPT TO:<victim@example.test>\r\n';

/** What the tests watch of each session: its TLS as the upgrade resolved, and its close. */
interface Observed {
  readonly upgraded: PromiseWithResolvers<TlsInfo | SwitchboardError>;
  readonly closed: PromiseWithResolvers<CloseReason>;
  /** Lines the application saw, in order. */
  readonly lines: string[];
}

function observe(): Observed {
  return { upgraded: deferred(), closed: deferred(), lines: [] };
}

/** One SMTP-like line step shared by every style: the reply to a line, 'starttls', or 'quit' (reply 221 and end). */
function reply(line: string, secure: boolean): string {
  const verb = line.split(' ')[0]!.toUpperCase();
  if (verb === 'QUIT') return 'quit';
  if (verb === 'EHLO') return secure ? '250 secure\r\n' : '250-switchboard.test\r\n250 STARTTLS\r\n';
  if (verb === 'STARTTLS') return 'starttls';
  return secure ? `250 over TLS: ${line}\r\n` : '530 5.7.0 Must issue a STARTTLS command first\r\n';
}

/** A hand-written line parser, as an unframed session would have: `rest` is what follows the last line. */
class Lines {
  rest = '';

  /** The whole lines `chunk` completes, CR LF or LF; the parser keeps what follows them. */
  *feed(chunk: Buffer): Generator<string> {
    this.rest += chunk.toString('latin1');
    for (let end = this.rest.indexOf('\n'); end >= 0; end = this.rest.indexOf('\n')) {
      const line = this.rest.slice(0, end).replace(/\r$/, '');
      this.rest = this.rest.slice(end + 1);
      yield line;
    }
  }

  /** What the parser holds after a command, for `startTls({ buffered })`; it then holds nothing. */
  take(): Buffer {
    const held = Buffer.from(this.rest, 'latin1');
    this.rest = '';
    return held;
  }
}

/** Five servers, one per style, serving the same dialogue. */
const STYLES: Record<string, (seen: Observed) => TcpHandler> = {
  event: (seen) => {
    const lines = new Lines();
    return {
      open: (session) => { session.write('220 switchboard.test ESMTP\r\n'); },
      data(session, chunk) {
        for (const line of lines.feed(chunk)) {
          seen.lines.push(line);
          const answer = reply(line, session.tls !== null);
          if (answer === 'quit') {
            session.write(BYE);
            return session.end();
          }
          if (answer !== 'starttls') {
            session.write(answer);
            continue;
          }
          session.startTls({ goAhead: GO_AHEAD, buffered: lines.take() }).then(seen.upgraded.resolve, seen.upgraded.resolve);
          return; // stop parsing: what followed the command was handed to startTls
        }
      },
      close: (_session, reason) => seen.closed.resolve(reason),
    };
  },
  async: (seen) => async (session) => {
    session.closed.then(seen.closed.resolve);
    await session.write('220 switchboard.test ESMTP\r\n');
    const lines = new Lines();
    for await (const chunk of session) {
      for (const line of lines.feed(chunk)) {
        seen.lines.push(line);
        const answer = reply(line, session.tls !== null);
        if (answer === 'quit') return session.write(BYE);
        if (answer !== 'starttls') await session.write(answer);
        else {
          const outcome = await session.startTls({ goAhead: GO_AHEAD, buffered: lines.take() }).catch((error: SwitchboardError) => error);
          seen.upgraded.resolve(outcome);
          if (!('protocol' in outcome)) return;
        }
      }
    }
  },
  'framed async': (seen) => framed(() => createLineCodec({ newline: '\r\n' }), async (session: FramedAsyncSession<string, string>) => {
    session.closed.then(seen.closed.resolve);
    await session.write('220 switchboard.test ESMTP\r\n');
    for await (const line of session.frames()) {
      seen.lines.push(line);
      const answer = reply(line, session.tls !== null);
      if (answer === 'quit') return session.write(BYE);
      if (answer !== 'starttls') await session.write(answer);
      else {
        const outcome = await session.startTls({ goAhead: GO_AHEAD }).catch((error: SwitchboardError) => error);
        seen.upgraded.resolve(outcome);
        if (!('protocol' in outcome)) return;
      }
    }
  }),
  // The handler waits for the upgrade (frames after it in the chunk queue behind it)…
  'framed event': (seen) => framedEventStyle(seen, true),
  // …or asks and returns at once, mid-chunk: the frames after STARTTLS are still being decoded.
  'framed event, synchronous handler': (seen) => framedEventStyle(seen, false),
};

function framedEventStyle(seen: Observed, awaitUpgrade: boolean): TcpHandler {
  return framed(() => createLineCodec({ newline: '\r\n' }), {
    open: (session) => { session.write('220 switchboard.test ESMTP\r\n'); },
    frame(session: FramedEventSession<string, string>, line: string) {
      seen.lines.push(line);
      const answer = reply(line, session.tls !== null);
      if (answer === 'quit') {
        session.write(BYE);
        session.end();
      } else if (answer !== 'starttls') session.write(answer);
      else {
        const upgrade = session.startTls({ goAhead: GO_AHEAD }).then(seen.upgraded.resolve, seen.upgraded.resolve);
        if (awaitUpgrade) return upgrade;
      }
    },
    close: (_session, reason) => seen.closed.resolve(reason),
  });
}

async function listenStarttls(t: TestContext, handler: TcpHandler, tls: { handshakeTimeout?: number } = {}) {
  const server = await listenLocal(t, { tls: { ...pemPair(certs.server), ca: certs.ca.cert, mode: 'starttls', ...tls } }, handler);
  server.on('warning', () => {});
  return { server, port: server.addresses[0]!.port };
}

async function banner(t: TestContext, port: number): Promise<TestClient> {
  const client = await connectClient(t, port);
  await client.waitForText('220 switchboard.test');
  return client;
}

describe('session.startTls()', () => {
  for (const [style, make] of Object.entries(STYLES)) {
    describe(`${style} style`, () => {
      it('upgrades for openssl s_client -starttls smtp; the session reports what the client sees', async (t) => {
        if (skipWithout(t, 'openssl')) return;
        const seen = observe();
        const { port, server } = await listenStarttls(t, make(seen));
        const run = await runPeer('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-starttls', 'smtp', '-brief', '-ign_eof', '-CAfile', certs.ca.certPath, '-verify_return_error'], { input: 'NOOP\r\nQUIT\r\n' });
        assert.match(run.output, /^250 over TLS: NOOP\r?\n221 2\.0\.0 bye/m);
        const tls = await within(seen.upgraded.promise, 'the upgrade') as TlsInfo;
        assert.equal(tls.protocol, /^Protocol version: (.*)$/m.exec(run.output)?.[1]);
        assert.equal(tls.cipher.standardName, /^Ciphersuite: (.*)$/m.exec(run.output)?.[1]);
        assert.deepEqual(seen.lines.filter((line) => line === 'STARTTLS'), ['STARTTLS'], 'one upgrade');
        await within(seen.closed.promise, 'the close');
        assert.deepEqual([server.stats().tls?.handshakes, server.stats().tls?.failed], [1, 0]);
      });

      it('closes the session when plaintext is pipelined after STARTTLS: no go-ahead, never read as a command', async (t) => {
        const seen = observe();
        const { port, server } = await listenStarttls(t, make(seen));
        const client = await banner(t, port);
        client.send(ATTACK);
        await within(client.closed, 'the server to close');
        const reason = await within(seen.closed.promise, 'the session close');
        assert.equal(reason.cause, 'tls-handshake');
        assert.equal(reason.error?.code, 'SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS');
        assert.doesNotMatch(client.received.toString(), /Ready to start TLS/);
        assert.ok(!seen.lines.some((line) => line.startsWith('RCPT')), `the injected command never reached the application: ${seen.lines.join(' | ')}`);
        assert.equal(((await seen.upgraded.promise) as SwitchboardError).code, 'SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS');
        assert.equal(server.stats().tls?.failures['plaintext-after-starttls'], 1);
      });
    });
  }

  it('upgrades for gnutls-cli --starttls-proto=smtp (examples of every style share the code above)', async (t) => {
    if (skipWithout(t, 'gnutls-cli')) return;
    const seen = observe();
    const { port } = await listenStarttls(t, STYLES['framed async']!(seen));
    const run = await runPeer('gnutls-cli', ['--starttls-proto=smtp', '--x509cafile', certs.ca.certPath, '-p', String(port), 'localhost'], { input: 'NOOP\r\n' });
    assert.match(run.output, /250 over TLS: NOOP/);
    assert.equal(((await seen.upgraded.promise) as TlsInfo).protocol, 'TLSv1.3');
  });

  it('closes the socat one-liner of the attack', async (t) => {
    if (skipWithout(t, 'socat')) return;
    const seen = observe();
    const { port } = await listenStarttls(t, STYLES.event!(seen));
    const run = await runPeer('socat', ['-t', '2', '-', `TCP:127.0.0.1:${port}`], { input: 'EHLO x\r\nSTARTTLS\r\nRCPT TO:<victim@example.test>\r\n' });
    assert.match(run.stdout, /^250 STARTTLS\r$/m);
    assert.doesNotMatch(run.stdout, /Ready to start TLS/);
    assert.equal((await within(seen.closed.promise, 'the close')).error?.code, 'SWB_ERR_TLS_PLAINTEXT_AFTER_STARTTLS');
  });

  it('flips session.tls once, carries reads, writes and the byte counts over to TLS', async (t) => {
    const flips: (TlsInfo | null)[] = [];
    const closed = deferred<TcpSession>();
    const { port } = await listenStarttls(t, {
      data(session, chunk) {
        flips.push(session.tls);
        if (chunk.toString() === 'STARTTLS\r\n') session.startTls({ goAhead: GO_AHEAD }).then(() => flips.push(session.tls));
        else session.write(chunk);
      },
      close: (session) => closed.resolve(session),
    });
    const client = await connectClient(t, port);
    client.send('STARTTLS\r\n');
    await client.waitForText('Ready to start TLS');
    const secure = tlsConnect({ socket: client.socket, ca: certs.ca.cert, servername: 'localhost' });
    secure.on('error', () => {});
    await within(new Promise((resolve) => secure.once('secureConnect', resolve)), 'the handshake');
    const echoed = new Promise<string>((resolve) => secure.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    secure.write('ping');
    assert.equal(await within(echoed, 'the echo over TLS'), 'ping');
    secure.end();
    const session = await within(closed.promise, 'the close');
    assert.deepEqual(flips.map((tls) => tls?.protocol ?? null), [null, 'TLSv1.3', 'TLSv1.3']);
    assert.equal(session.bytesRead, 'STARTTLS\r\n'.length + 4, 'plaintext, then decrypted bytes');
    assert.equal(session.bytesWritten, GO_AHEAD.length + 4);
  });

  it('closes a client that stalls after the go-ahead at the deadline', async (t) => {
    const seen = observe();
    const { port } = await listenStarttls(t, STYLES.event!(seen), { handshakeTimeout: 300 });
    const client = await banner(t, port);
    client.send('STARTTLS\r\n');
    await client.waitForText('Ready to start TLS');
    await within(client.closed, 'the server to close a stalled upgrade', 3000);
    const reason = await within(seen.closed.promise, 'the session close');
    assert.deepEqual([reason.cause, reason.error?.code], ['tls-handshake', 'SWB_ERR_TLS_HANDSHAKE_TIMEOUT']);
  });

  it('refuses a second startTls, one on an implicit-TLS session, and one without the tls option, closing nothing', async (t) => {
    const refusals: string[] = [];
    const refuse = (session: TcpSession): Promise<void> => session.startTls().then(() => { refusals.push('upgraded!'); }, (error: SwitchboardError) => { refusals.push(`${error.code}: ${error.message}`); });
    const upgraded = deferred<EventSession>();
    const { port } = await listenStarttls(t, {
      data(session, chunk) {
        if (chunk.toString() !== 'STARTTLS\r\n') return void session.write(chunk);
        session.startTls({ goAhead: GO_AHEAD }).then(() => upgraded.resolve(session));
        void refuse(session); // while the first runs
      },
    });
    const client = await connectClient(t, port);
    client.send('STARTTLS\r\n');
    await client.waitForText('Ready to start TLS');
    const secure = tlsConnect({ socket: client.socket, ca: certs.ca.cert, servername: 'localhost' });
    secure.on('error', () => {});
    const session = await within(upgraded.promise, 'the upgrade');
    await refuse(session);
    const implicit = await listenLocal(t, { tls: pemPair(certs.server) }, { open: (s) => void refuse(s).then(() => s.end()) });
    const implicitClient = tlsConnect({ port: implicit.addresses[0]!.port, host: '127.0.0.1', rejectUnauthorized: false });
    implicitClient.on('error', () => {});
    t.after(() => implicitClient.destroy());
    const plain = await listenLocal(t, {}, { open: (s) => void refuse(s).then(() => s.end()) });
    await connectClient(t, plain.addresses[0]!.port);
    await until(() => refusals.length === 4, 'four refusals');
    assert.deepEqual(refusals.map((r) => r.replace(/:.*?refused: /, ': ')).sort(), [
      'SWB_ERR_TLS_INVALID_STATE: a STARTTLS upgrade is already running',
      'SWB_ERR_TLS_INVALID_STATE: the connection is already TLS',
      'SWB_ERR_TLS_INVALID_STATE: the connection is already TLS',
      'SWB_ERR_TLS_INVALID_STATE: the server has no `tls` option (give it one with `mode: "starttls"`)',
    ]);
    const echoed = new Promise<string>((resolve) => secure.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    secure.write('still open');
    assert.equal(await within(echoed, 'the echo after the refusals'), 'still open');
    secure.destroy();
  });

  it('throws for a malformed option before touching the session', async (t) => {
    const checked = deferred<void>();
    const { port } = await listenStarttls(t, {
      data(session) {
        assert.throws(() => session.startTls({ timeout: -1 }), { code: 'SWB_ERR_INVALID_OPTION' });
        assert.throws(() => session.startTls({ goAhead: 5 as unknown as string }), { code: 'SWB_ERR_INVALID_OPTION' });
        session.write('still plaintext\r\n');
        checked.resolve();
      },
    });
    const client = await connectClient(t, port);
    client.send('x');
    await within(checked.promise, 'the checks');
    await client.waitForText('still plaintext');
    client.send('y');
    await client.waitForText('still plaintext\r\nstill plaintext');
  });

  it('closes an upgrade in progress when the server is destroyed; the ledger balances', async (t) => {
    const seen = observe();
    const { port, server } = await listenStarttls(t, STYLES.async!(seen));
    const client = await banner(t, port);
    client.send('STARTTLS\r\n');
    await client.waitForText('Ready to start TLS');
    await until(() => server.stats().tls?.inProgress === 1, 'the handshake running');
    await within(server.destroy(), 'the destroy');
    await within(client.closed, 'the client to be closed');
    assert.equal((await within(seen.closed.promise, 'the session close')).cause, 'server-destroy');
    const stats = server.stats();
    assert.deepEqual([stats.accepted, stats.closed, stats.sessions], [1, 1, 0]);
    assert.deepEqual([stats.tls?.failures.aborted, stats.tls?.failures['peer-closed']], [1, 0], 'closed on our side: not the peer\'s failure');
  });
});
