/**
 * What the TCP and UDP servers share through ServerBase and the handler checks: the same
 * answers for the same mistakes, the same addresses rule, one error for a failed handler.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as api from '../../src/index.ts';
import { ErrorCode, InvalidOptionError, SwitchboardError, TcpServer, UdpServer, formatAddress, type TcpHandler, type UdpHandler } from '../../src/index.ts';
import { handlerFailure } from '../../src/server/handler-errors.ts';
import { listenLocal } from '../helpers/net.ts';
import { echo, listenUdpLocal } from '../udp/helpers/udp.ts';
import '../helpers/leak-check.ts';

describe('handler checks', () => {
  it('refuses a TCP handler with a misspelt callback, naming the nearest one', () => {
    assert.throws(() => new TcpServer({ port: 0 }, { dta() {} } as TcpHandler), {
      name: 'InvalidOptionError',
      code: ErrorCode.INVALID_OPTION,
      option: 'handler.dta',
      message: '`handler.dta` is not a handler callback (did you mean `data`?), got a function',
    });
    assert.throws(() => new TcpServer({ port: 0 }, { data() {}, onClose() {} } as TcpHandler), /`handler.onClose` is not a handler callback \(did you mean `close`\?\)/);
  });

  it('lists the callbacks when no name is near', () => {
    assert.throws(() => new TcpServer({ port: 0 }, { frobnicate() {} } as TcpHandler), {
      message: /`handler.frobnicate` is not a handler callback \(one of `accept`, `open`, `data`, `drain`, `closing`, `end`, `timeout`, `error`, `close`\)/,
    });
  });

  it('refuses a TCP callback that is not a function', () => {
    assert.throws(() => new TcpServer({ port: 0 }, { data: 5 } as unknown as TcpHandler), {
      name: 'InvalidOptionError',
      message: '`handler.data` must be a function, got 5',
    });
  });

  it('leaves state kept on the handler object, class methods and undefined callbacks alone', async (t) => {
    class Echo {
      served = 0;
      helper(): void {}
      data(): void {
        this.served++;
      }
    }
    const server = await listenLocal(t, {}, new Echo() as TcpHandler);
    const other = await listenLocal(t, {}, { data: undefined, count: 0 } as TcpHandler);
    assert.equal(server.state, 'listening');
    assert.equal(other.state, 'listening');
  });

  it('refuses a UDP handler with a misspelt callback, naming `message`', () => {
    assert.throws(() => new UdpServer({ port: 0 }, { mesage() {} } as unknown as UdpHandler), {
      name: 'InvalidOptionError',
      option: 'handler.mesage',
      message: '`handler.mesage` is not a handler callback (did you mean `message`?), got a function',
    });
  });

  it('refuses a bad UDP handler with InvalidOptionError', () => {
    for (const bad of [null, 42, {}, { message: 'x' }]) {
      assert.throws(() => new UdpServer({ port: 0 }, bad as unknown as UdpHandler), (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError, `${String(bad)}: ${String(error)}`);
        assert.equal(error.code, ErrorCode.INVALID_OPTION);
        return true;
      });
    }
  });
});

describe('for await on a server with a handler', () => {
  it('throws InvalidOptionError naming the handler, for TCP and UDP', async (t) => {
    const tcp = await listenLocal(t, {}, { data() {} });
    const udp = await listenUdpLocal(t, {}, echo);
    for (const iterate of [() => tcp[Symbol.asyncIterator](), () => udp[Symbol.asyncIterator]()]) {
      assert.throws(iterate, (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.equal(error.option, 'handler');
        assert.match(error.message, /^`handler` must be left out to iterate (sessions|datagrams) with `for await`/);
        return true;
      });
    }
  });
});

describe('#addresses', () => {
  it('lists the bound addresses while listening and none once closed (TCP)', async (t) => {
    const server = await listenLocal(t, {}, { data() {} });
    assert.equal(server.addresses.length, 1);
    await server.close();
    assert.deepEqual(server.addresses, []);
  });

  it('lists the bound addresses while listening and none once closed (UDP)', async (t) => {
    const server = await listenUdpLocal(t, {}, echo);
    assert.equal(server.addresses.length, 1);
    await server.close();
    assert.deepEqual(server.addresses, []);
  });
});

describe('stats vocabulary', () => {
  it('counts open sockets as `listeners` on both servers', async (t) => {
    const tcp = await listenLocal(t, {}, { data() {} });
    const udp = await listenUdpLocal(t, {}, echo);
    assert.equal(tcp.stats().listeners, 1);
    assert.equal(udp.stats().listeners, 1);
    assert.ok(!('sockets' in udp.stats()));
  });
});

describe('handlerFailure', () => {
  it('wraps what a handler threw, with the thrown value as cause', () => {
    const thrown = new Error('boom');
    const error = handlerFailure('data handler of session 3 failed', thrown);
    assert.ok(error instanceof SwitchboardError);
    assert.equal(error.code, ErrorCode.HANDLER_FAILED);
    assert.equal(error.message, 'data handler of session 3 failed: boom');
    assert.equal(error.cause, thrown);
    assert.equal(handlerFailure('x', 'plain').message, 'x: plain');
  });
});

describe('formatAddress', () => {
  it('brackets IPv6 and leaves IPv4 and names as they are', () => {
    assert.equal(formatAddress('::1', 7000), '[::1]:7000');
    assert.equal(formatAddress('127.0.0.1', 7000), '127.0.0.1:7000');
    assert.equal(formatAddress('localhost', 0), 'localhost:0');
    assert.equal(formatAddress('fe80::1%eth0'), '[fe80::1%eth0]');
  });
});

describe('the public index', () => {
  it('keeps address internals out of it', () => {
    for (const name of ['lookupAll', 'hostHasIPv6', 'unmapAddress', 'resolveListenTargets', 'RejectReason', 'DropReason']) {
      assert.ok(!(name in api), `${name} is not exported`);
    }
    assert.equal(typeof api.supportsReusePort, 'function');
  });
});
