import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ErrorCode,
  InvalidOptionError,
  TcpServer,
  UdpServer,
  createDelimiterCodec,
  createFixedLengthCodec,
  createLengthFieldCodec,
  createLineCodec,
  framed,
  listenTcp,
} from '../../src/index.ts';
import { normalizeTlsOptions } from '../../src/tls/tls-options.ts';

/** Asserts that `run` throws the unknown-option error for `option`, with `message` exactly. */
function rejectsUnknown(run: () => unknown, option: string, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof InvalidOptionError, String(error));
    assert.equal(error.code, ErrorCode.INVALID_OPTION);
    assert.equal(error.option, option);
    assert.equal(error.message, message);
    return true;
  });
}

describe('unknown option keys', () => {
  describe('TCP server options', () => {
    it('refuses a key no option has instead of binding every interface on a random port', async () => {
      let listening: Promise<TcpServer> | undefined;
      try {
        rejectsUnknown(() => (listening = listenTcp({ path: 'x.sock' } as never)), 'path', 'unknown option "path"');
      } finally {
        // Where the key is ignored, close what was bound.
        await listening?.then((server) => server.close());
      }
    });

    it('names the nearest valid option for a misspelt one', () => {
      rejectsUnknown(() => new TcpServer({ prot: 7600 } as never), 'prot', 'unknown option "prot" (did you mean "port"?)');
      rejectsUnknown(() => new TcpServer({ idleTimeOut: 5 } as never), 'idleTimeOut', 'unknown option "idleTimeOut" (did you mean "idleTimeout"?)');
      rejectsUnknown(() => new TcpServer({ maxConection: 5 } as never), 'maxConection', 'unknown option "maxConection" (did you mean "maxConnections"?)');
    });

    it('refuses a key whose value is undefined too: a misspelling is one whatever its value', () => {
      rejectsUnknown(() => new TcpServer({ noDelay: true, nodelay: undefined } as never), 'nodelay', 'unknown option "nodelay" (did you mean "noDelay"?)');
    });

    it('still takes every documented option', (t) => {
      const server = new TcpServer({
        host: '127.0.0.1', port: 0, backlog: 8, exclusive: true, reusePort: false, ipv6Only: false,
        keepAlive: false, keepAliveInitialDelay: 0, noDelay: false, idleTimeout: 1000, signal: new AbortController().signal,
        lookup: async () => [], maxConnections: 1, maxConnectionsPerAddress: 1, acceptRate: 1, acceptBurst: 1,
        perAddressIPv6Prefix: 64, busyMessage: 'busy', allow: ['127.0.0.1'], deny: ['198.18.0.0/15'], maxBufferedOutput: 1,
        highWaterMark: 1, acceptTimeout: 1, firstByteTimeout: 1, maxLifetime: 1,
      });
      t.after(() => server.destroy());
    });
  });

  describe('TcpServer methods', () => {
    it('throttle() refuses a key that is not a limit, and changes nothing', (t) => {
      const server = new TcpServer({ maxConnections: 5 });
      t.after(() => server.destroy());
      rejectsUnknown(() => server.throttle({ bogus: 1 } as never), 'bogus', 'unknown option "bogus"');
      rejectsUnknown(() => server.throttle({ maxConnections: 9, acceptrate: 1 } as never), 'acceptrate', 'unknown option "acceptrate" (did you mean "acceptRate"?)');
      assert.equal(server.throttle().maxConnections, 5);
    });

    it('close() refuses a key other than timeout', async () => {
      const server = new TcpServer({});
      rejectsUnknown(() => server.close({ timout: 5 } as never), 'timout', 'unknown option "timout" (did you mean "timeout"?)');
      await server.close();
    });

    it('setAccessRules() refuses a key other than allow and deny, and changes nothing', (t) => {
      const server = new TcpServer({ deny: ['198.18.0.0/15'] });
      t.after(() => server.destroy());
      rejectsUnknown(() => server.setAccessRules({ alow: ['127.0.0.1'] } as never), 'alow', 'unknown option "alow" (did you mean "allow"?)');
      assert.deepEqual(server.accessRules, { allow: null, deny: ['198.18.0.0/15'] });
    });
  });

  describe('UDP server options', () => {
    it('refuses an unknown key, and one inside rateLimit named with its path', () => {
      rejectsUnknown(() => new UdpServer({ maxDatagramSise: 5 } as never), 'maxDatagramSise', 'unknown option "maxDatagramSise" (did you mean "maxDatagramSize"?)');
      rejectsUnknown(
        () => new UdpServer({ rateLimit: { datagram: 5 } } as never),
        'rateLimit.datagram',
        'unknown option "rateLimit.datagram" (did you mean "rateLimit.datagrams"?)',
      );
    });

    it('keeps the removed amplificationAllowance its own message', () => {
      assert.throws(() => new UdpServer({ amplificationAllowance: 3 } as never), { option: 'amplificationAllowance', message: /^`amplificationAllowance` was removed/ });
    });

    it('close() refuses an unknown key too', async () => {
      const server = new UdpServer({});
      rejectsUnknown(() => server.close({ timeoutMs: 5 } as never), 'timeoutMs', 'unknown option "timeoutMs" (did you mean "timeout"?)');
      await server.close();
    });
  });

  describe('codec and framing options', () => {
    it('every codec factory refuses an unknown key', () => {
      rejectsUnknown(() => createLineCodec({ maxLineLenght: 5 } as never), 'maxLineLenght', 'unknown option "maxLineLenght" (did you mean "maxLineLength"?)');
      rejectsUnknown(() => createDelimiterCodec({ delimiter: ';', includeDelimeter: true } as never), 'includeDelimeter', 'unknown option "includeDelimeter" (did you mean "includeDelimiter"?)');
      rejectsUnknown(() => createFixedLengthCodec({ frameLength: 4, framelength: 4 } as never), 'framelength', 'unknown option "framelength" (did you mean "frameLength"?)');
      rejectsUnknown(() => createLengthFieldCodec({ lengthFieldSize: 2 } as never), 'lengthFieldSize', 'unknown option "lengthFieldSize"');
    });

    it('framed() refuses an unknown framing option', () => {
      rejectsUnknown(
        () => framed(() => createLineCodec(), { frame() {} }, { partialFrameTimout: 5 } as never),
        'partialFrameTimout',
        'unknown option "partialFrameTimout" (did you mean "partialFrameTimeout"?)',
      );
    });
  });

  describe('TLS options', () => {
    it('keep their own message and now name the nearest valid key', () => {
      assert.throws(() => normalizeTlsOptions({ key: 'k', cert: 'c', minVersoin: 'TLSv1.2' } as never), {
        option: 'tls.minVersoin',
        message: /^`tls\.minVersoin` is not a TLS option \(known: key, cert, .*, expiryWarning, mode, ticketKeys; did you mean `minVersion`\?\), got "TLSv1\.2"$/,
      });
    });
  });
});
