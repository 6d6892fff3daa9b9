import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, InvalidOptionError, MAX_BUSY_MESSAGE_LENGTH, TcpServer, UdpServer, listenTcp } from '../../src/index.ts';

describe('TCP server options', () => {
  describe('host', () => {
    it('refuses host:port at construction instead of failing the lookup of "localhost:7600"', () => {
      // Where the host is taken, the listen fails later, at the lookup: keep that rejection handled.
      assert.throws(() => void listenTcp({ host: 'localhost:7600' }).catch(() => {}), {
        name: 'InvalidOptionError',
        code: ErrorCode.INVALID_OPTION,
        option: 'host',
        message: '`host` must not carry a port: give the port as the `port` option ({ host: "localhost", port: 7600 }), got "localhost:7600"',
      });
      assert.throws(() => new TcpServer({ host: '[::1]:7600' }), { option: 'host', message: /\{ host: "::1", port: 7600 \}/ });
    });

    it('refuses it for UDP too, which shares the host rules', () => {
      assert.throws(() => new UdpServer({ host: '127.0.0.1:53' }), { option: 'host', message: /must not carry a port/ });
    });
  });

  describe('busyMessage', () => {
    it('says how long the message is against the limit, in bytes', () => {
      assert.throws(() => new TcpServer({ busyMessage: 'x'.repeat(5000) }), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.equal(error.option, 'busyMessage');
        assert.equal(error.message, `\`busyMessage\` must be at most ${MAX_BUSY_MESSAGE_LENGTH} bytes, got 5000`);
        return true;
      });
      assert.throws(() => new TcpServer({ busyMessage: 'é'.repeat(2049) }), { message: '`busyMessage` must be at most 4096 bytes, got 4098' });
    });
  });
});
