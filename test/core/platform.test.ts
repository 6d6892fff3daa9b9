import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ErrorCode, SwitchboardError } from '../../src/index.ts';
import { MINIMUM_NODE_VERSION, assertSupportedNode, unsupportedNodeMessage } from '../../src/core/platform.ts';

describe('the Node.js version check', () => {
  it('names the version needed and the one running when it is older than 22.12', () => {
    for (const version of ['20.18.0', 'v20.20.2', '22.11.9', '18.0.0', '0.10.48']) {
      assert.equal(unsupportedNodeMessage(version), `Switchboard needs Node.js 22.12 or newer; this is Node.js ${version.replace(/^v/, '')}`);
      assert.throws(
        () => assertSupportedNode(version),
        (error: unknown) => error instanceof SwitchboardError && error.code === ErrorCode.UNSUPPORTED_NODE && error.message === unsupportedNodeMessage(version),
      );
    }
  });

  it('passes 22.12 and every later version', () => {
    for (const version of ['22.12.0', '22.20.1', '23.0.0', '24.21.0', 'v25.0.0-pre', '100.0.0']) {
      assert.equal(unsupportedNodeMessage(version), undefined, version);
      assert.doesNotThrow(() => assertSupportedNode(version));
    }
    assert.equal(unsupportedNodeMessage(), undefined, 'the Node.js running the tests');
  });

  it('asks for what package.json engines promises', () => {
    const { engines } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
    assert.equal(engines.node, `>=${MINIMUM_NODE_VERSION}`);
  });
});
