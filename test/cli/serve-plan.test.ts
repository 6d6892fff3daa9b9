import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupByPort, planServe } from '../../src/cli/serve-plan.ts';

function summary(positionals: string[], listens: string[]): string[] {
  return planServe(positionals, listens).map(({ service, hosts, port }) => `${service.name} ${hosts.map((host) => host ?? '(any)').join(',')} ${port}`);
}

describe('planServe', () => {
  it('serves all six on localhost at 10000 + the standard port by default', () => {
    assert.deepEqual(summary([], []), [
      'echo localhost 10007',
      'discard localhost 10009',
      'daytime localhost 10013',
      'qotd localhost 10017',
      'chargen localhost 10019',
      'time localhost 10037',
    ]);
  });

  it('gives the --listen port to the first service and offsets the rest by standard port', () => {
    assert.deepEqual(summary(['daytime', 'echo', 'time'], ['*:20013']), ['daytime * 20013', 'echo * 20007', 'time * 20037']);
  });

  it('keeps port 0 for every service (a free port each) and groups hosts sharing a port', () => {
    assert.deepEqual(summary(['echo', 'time'], ['127.0.0.1:0', '[::1]:0']), ['echo 127.0.0.1,::1 0', 'time 127.0.0.1,::1 0']);
  });

  it('binds each --listen of a service separately when the ports differ', () => {
    assert.deepEqual(summary(['echo'], ['127.0.0.1:7000', '[::1]:8000']), ['echo 127.0.0.1 7000', 'echo ::1 8000']);
  });

  it('honours SERVICE=ADDRESS as an argument or in --listen, and selects those services', () => {
    assert.deepEqual(summary(['echo=:7'], ['time=[::1]:37']), ['echo (any) 7', 'time ::1 37']);
    assert.deepEqual(summary(['echo=:7', 'daytime'], ['127.0.0.1:1013']), ['echo (any) 7', 'daytime 127.0.0.1 1013']);
  });

  it('refuses an unknown service', () => {
    assert.throws(() => planServe(['ekko'], []), /unknown service "ekko" \(one of echo, discard, daytime, qotd, chargen, time\)/);
  });

  it('refuses an offset port outside 1-65535, naming --listen', () => {
    assert.throws(() => planServe([], [':65530']), /--listen ":65530": daytime would be at port 65536, outside 1-65535/);
    assert.throws(() => planServe(['time', 'echo'], [':30']), /--listen ":30": echo would be at port 0, outside 1-65535 \(ports are offset from time's\)/);
  });

  it('refuses a plain --listen when every service has its own address', () => {
    assert.throws(() => planServe(['echo=:7'], [':8000']), /--listen ":8000" applies to no service/);
  });
});

describe('groupByPort', () => {
  it('deduplicates hosts', () => {
    assert.deepEqual(groupByPort([{ host: 'a', port: 1, text: '' }, { host: 'a', port: 1, text: '' }]), [{ hosts: ['a'], port: 1 }]);
  });
});
