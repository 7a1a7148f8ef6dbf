import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  authArgs,
  chatArgs,
  commandParams,
  editArgs,
  editorContext,
  listModelsArgs,
  logoutArgs,
  parseChatArgs,
  parseEditArgs,
  selectModelArgs,
  statusArgs,
  streamingParams,
} from '../src/args';

const URI = 'file:///home/ana/project/app.py';
const RANGE = { start: { line: 2, character: 0 }, end: { line: 8, character: 4 } };

describe('qwen.chat arguments', () => {
  it('sends only the prompt when nothing else is known', () => {
    assert.deepEqual(chatArgs({ prompt: 'What is a monad?' }), { prompt: 'What is a monad?' });
  });

  it('sends uri, range, sessionId and partialResultToken when given', () => {
    assert.deepEqual(
      chatArgs({
        prompt: '  Explain this code.  ',
        uri: URI,
        range: RANGE,
        sessionId: 's-1',
        partialResultToken: 'p-1',
      }),
      {
        prompt: 'Explain this code.',
        uri: URI,
        range: RANGE,
        sessionId: 's-1',
        partialResultToken: 'p-1',
      },
    );
  });

  it('drops a range without a uri, which would have no document', () => {
    assert.deepEqual(chatArgs({ prompt: 'hi', range: RANGE }), { prompt: 'hi' });
  });

  it('leaves out a blank model', () => {
    assert.deepEqual(chatArgs({ prompt: 'hi', model: ' ' }), { prompt: 'hi' });
    assert.deepEqual(chatArgs({ prompt: 'hi', model: 'qwen3-coder-plus' }), {
      prompt: 'hi',
      model: 'qwen3-coder-plus',
    });
  });

  it('refuses an empty prompt', () => {
    assert.throws(() => chatArgs({ prompt: '   ' }), /qwen.chat needs a prompt/);
  });
});

describe('editor context', () => {
  it('sends the selection as uri + range', () => {
    assert.deepEqual(editorContext(URI, RANGE), { uri: URI, range: RANGE });
  });

  it('sends only the uri when nothing is selected', () => {
    const cursor = { start: { line: 4, character: 2 }, end: { line: 4, character: 2 } };
    assert.deepEqual(editorContext(URI, cursor), { uri: URI });
    assert.deepEqual(editorContext(URI), { uri: URI });
  });

  it('sends nothing without a document', () => {
    assert.deepEqual(editorContext(undefined, RANGE), {});
  });

  it('copies the range instead of sharing the editor object', () => {
    const selection = { start: { line: 1, character: 0 }, end: { line: 2, character: 0 } };
    const context = editorContext(URI, selection);
    selection.start.line = 9;
    assert.equal(context.range?.start.line, 1);
  });
});

describe('qwen.edit arguments', () => {
  it('sends uri, range and instruction', () => {
    assert.deepEqual(editArgs({ uri: URI, range: RANGE, instruction: ' add type hints ' }), {
      uri: URI,
      range: RANGE,
      instruction: 'add type hints',
    });
  });

  it('refuses an empty instruction', () => {
    assert.throws(() => editArgs({ uri: URI, range: RANGE, instruction: '' }), /instruction/);
  });
});

describe('qwen.auth arguments', () => {
  it('qwen-oauth sends no key or base URL, even if given', () => {
    assert.deepEqual(
      authArgs({ method: 'qwen-oauth', apiKey: 'sk-x', baseUrl: 'https://x', scope: 'user' }),
      { method: 'qwen-oauth', scope: 'user' },
    );
  });

  it('openai sends the key, base URL, uri and scope', () => {
    assert.deepEqual(
      authArgs({
        method: 'openai',
        apiKey: ' sk-abcdef123456 ',
        baseUrl: 'https://example.test/v1',
        uri: URI,
        scope: 'workspace',
      }),
      {
        method: 'openai',
        apiKey: 'sk-abcdef123456',
        baseUrl: 'https://example.test/v1',
        uri: URI,
        scope: 'workspace',
      },
    );
  });

  it('coding-plan leaves out an empty base URL', () => {
    assert.deepEqual(authArgs({ method: 'coding-plan', apiKey: 'sk-cp-123456', baseUrl: '' }), {
      method: 'coding-plan',
      apiKey: 'sk-cp-123456',
    });
  });

  it('without a method lets the server ask', () => {
    assert.deepEqual(authArgs({}), {});
  });
});

describe('the other commands', () => {
  it('qwen.status', () => {
    assert.deepEqual(statusArgs(URI), { uri: URI });
    assert.deepEqual(statusArgs(), {});
  });

  it('qwen.logout', () => {
    assert.deepEqual(logoutArgs({ uri: URI, scope: 'user' }), { uri: URI, scope: 'user' });
    assert.deepEqual(logoutArgs({}), {});
  });

  it('qwen.listModels', () => {
    assert.deepEqual(listModelsArgs(URI), { uri: URI });
    assert.deepEqual(listModelsArgs(), {});
  });

  it('qwen.selectModel', () => {
    assert.deepEqual(selectModelArgs({ model: 'qwen3-coder-plus', uri: URI }), {
      model: 'qwen3-coder-plus',
      uri: URI,
    });
    assert.deepEqual(selectModelArgs({ model: '' }), {});
  });
});

describe('workspace/executeCommand params', () => {
  it('carry the argument object as the only argument', () => {
    assert.deepEqual(commandParams('qwen.status', { uri: URI }), {
      command: 'qwen.status',
      arguments: [{ uri: URI }],
    });
  });

  it('a streamed chat carries both tokens: one in the argument, one beside it', () => {
    const params = streamingParams(
      { command: 'qwen.chat', args: { prompt: 'hi', uri: URI, sessionId: 's-1' } },
      { partialResultToken: 'partial-1', workDoneToken: 'work-1' },
    );
    assert.deepEqual(params, {
      command: 'qwen.chat',
      arguments: [{ prompt: 'hi', uri: URI, sessionId: 's-1', partialResultToken: 'partial-1' }],
      workDoneToken: 'work-1',
    });
  });

  it('a streamed edit', () => {
    const params = streamingParams(
      { command: 'qwen.edit', args: { uri: URI, range: RANGE, instruction: 'rename x' } },
      { partialResultToken: 'partial-2', workDoneToken: 'work-2' },
    );
    assert.deepEqual(params, {
      command: 'qwen.edit',
      arguments: [
        { uri: URI, range: RANGE, instruction: 'rename x', partialResultToken: 'partial-2' },
      ],
      workDoneToken: 'work-2',
    });
  });
});

describe('arguments of code action commands, read back', () => {
  it('qwen.chat from "Qwen: Explain"', () => {
    assert.deepEqual(parseChatArgs({ prompt: 'Explain this code.', uri: URI, range: RANGE }), {
      prompt: 'Explain this code.',
      uri: URI,
      range: RANGE,
    });
  });

  it('qwen.edit from "Qwen: Add documentation"', () => {
    assert.deepEqual(parseEditArgs({ uri: URI, range: RANGE, instruction: 'Add a docstring.' }), {
      uri: URI,
      range: RANGE,
      instruction: 'Add a docstring.',
    });
  });

  it('drops malformed fields and rejects what is not an argument object', () => {
    assert.deepEqual(parseChatArgs({ prompt: 'hi', uri: 3, range: { start: 1 } }), {
      prompt: 'hi',
    });
    assert.equal(parseChatArgs({ prompt: '' }), undefined);
    assert.equal(parseChatArgs('hi'), undefined);
    assert.equal(parseEditArgs({ uri: URI, instruction: 'x' }), undefined);
    assert.equal(parseEditArgs({ uri: URI, range: RANGE, instruction: ' ' }), undefined);
    assert.equal(
      parseEditArgs({
        uri: URI,
        range: { start: { line: 1.5, character: 0 }, end: RANGE.end },
        instruction: 'x',
      }),
      undefined,
    );
  });
});
