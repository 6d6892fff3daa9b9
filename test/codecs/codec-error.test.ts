import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CodecError } from '../../src/codecs/index.ts';
import { SwitchboardError } from '../../src/core/errors.ts';

describe('CodecError', () => {
  describe('constructor', () => {
    it('is a SwitchboardError named CodecError with a stable code and an optional cause', () => {
      const cause = new Error('inner');
      const error = new CodecError('SWB_ERR_BAD_FRAME', 'line is not valid UTF-8', { cause });
      assert.ok(error instanceof SwitchboardError);
      assert.equal(error.name, 'CodecError');
      assert.equal(error.code, 'SWB_ERR_BAD_FRAME');
      assert.equal(error.message, 'line is not valid UTF-8');
      assert.equal(error.cause, cause);
    });
  });
});
