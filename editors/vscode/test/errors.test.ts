import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { describeError } from '../src/errors';

describe('errors people see', () => {
  it('cancellation is not an error', () => {
    assert.equal(describeError({ code: -32800, message: 'Request cancelled' }).cancelled, true);
    const vscodeCancel = Object.assign(new Error('Canceled'), { name: 'Canceled' });
    assert.equal(describeError(vscodeCancel).cancelled, true);
  });

  it('auth failures offer sign-in', () => {
    assert.deepEqual(
      describeError({
        code: -32803,
        message: 'The endpoint rejected the API key for /home/ana/project (401).',
        data: { kind: 'auth', status: 401 },
      }),
      {
        cancelled: false,
        message: 'The endpoint rejected the API key for /home/ana/project (401).',
        action: { title: 'Sign In', command: 'qwen.signIn' },
      },
    );
  });

  it('config failures offer the status', () => {
    const advice = describeError({
      code: -32803,
      message: 'No API key for /p: set OPENAI_API_KEY in /p/.env.',
      data: { kind: 'config' },
    });
    assert.deepEqual(advice.action, { title: 'Show Status', command: 'qwen.showStatus' });
  });

  it('rate limits say when to try again', () => {
    assert.deepEqual(
      describeError({
        code: -32803,
        message: 'Rate limited by dashscope.aliyuncs.com.',
        data: { kind: 'rateLimit', status: 429, retryAfter: 7.2 },
      }),
      {
        cancelled: false,
        message: 'Rate limited by dashscope.aliyuncs.com. Try again in 8 s.',
        action: undefined,
      },
    );
  });

  for (const kind of ['network', 'server', 'badResponse']) {
    it(`${kind} failures offer the log`, () => {
      const advice = describeError({ code: -32803, message: 'm', data: { kind } });
      assert.deepEqual(advice.action, { title: 'Show Server Log', command: 'qwen.showOutput' });
    });
  }

  it('a RequestFailed without data keeps its message', () => {
    assert.deepEqual(describeError({ code: -32803, message: 'odd' }), {
      cancelled: false,
      message: 'odd',
    });
  });

  it("invalid params name the server's complaint", () => {
    assert.equal(
      describeError({ code: -32602, message: 'prompt: must be a non-empty string' }).message,
      'qwen-ls rejected the request: prompt: must be a non-empty string',
    );
  });

  it('a dead connection offers a restart', () => {
    assert.deepEqual(describeError({ code: -32096, message: 'Client is not running' }), {
      cancelled: false,
      message: 'qwen-ls is not running (Client is not running).',
      action: { title: 'Restart Server', command: 'qwen.restartServer' },
    });
  });

  it('anything else', () => {
    assert.equal(describeError(new Error('boom')).message, 'qwen-ls: boom');
    assert.equal(describeError('text').message, 'qwen-ls: text');
  });
});
