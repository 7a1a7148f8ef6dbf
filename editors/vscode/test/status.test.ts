import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { StatusNotification } from '../src/protocol';
import {
  formatStatusReport,
  parseStatusNotification,
  presentStatus,
  shorten,
  statusFor,
} from '../src/status';

const FOLDER = 'file:///home/ana/project';

function status(overrides: Partial<StatusNotification> = {}): StatusNotification {
  return {
    workspaceFolder: FOLDER,
    authType: 'openai',
    model: 'qwen3-coder-plus',
    signedIn: true,
    problems: [],
    ...overrides,
  };
}

describe('status bar item from qwen/status', () => {
  it('signed in: shows the model; clicking picks another', () => {
    const shown = presentStatus({ kind: 'running' }, status());
    assert.equal(shown.text, '$(hubot) qwen3-coder-plus');
    assert.equal(shown.command, 'qwen.pickModel');
    assert.equal(shown.severity, 'ok');
    assert.equal(
      shown.tooltip,
      'Qwen: qwen3-coder-plus (openai)\nFolder: /home/ana/project\n\nClick to select another model.',
    );
  });

  it('not signed in: a warning with the first problem; clicking signs in', () => {
    const shown = presentStatus(
      { kind: 'running' },
      status({
        signedIn: false,
        authType: null,
        problems: ['No API key: set OPENAI_API_KEY', 'second problem'],
      }),
    );
    assert.equal(shown.text, '$(warning) Qwen: No API key: set OPENAI_API_KEY');
    assert.equal(shown.command, 'qwen.signIn');
    assert.equal(shown.severity, 'warning');
    assert.equal(
      shown.tooltip,
      'Qwen: not signed in\nFolder: /home/ana/project\n• No API key: set OPENAI_API_KEY\n• second problem\n\nClick to sign in.',
    );
  });

  it('not signed in without a stated problem', () => {
    const shown = presentStatus({ kind: 'running' }, status({ signedIn: false }));
    assert.equal(shown.text, '$(warning) Qwen: not signed in');
    assert.equal(shown.command, 'qwen.signIn');
  });

  it('signed in with a problem: a warning; clicking picks a model', () => {
    const shown = presentStatus(
      { kind: 'running' },
      status({ problems: ['model "qwen-max-old" is not offered by https://example.test/v1'] }),
    );
    assert.equal(shown.text, '$(warning) Qwen: model "qwen-max-old" is not offered by https://…');
    assert.equal(shown.command, 'qwen.pickModel');
    assert.equal(shown.severity, 'warning');
  });

  it('a user-level status says so', () => {
    const shown = presentStatus({ kind: 'running' }, status({ workspaceFolder: null }));
    assert.match(shown.tooltip, /Scope: user settings \(no workspace folder\)/);
  });

  it('before the first notification', () => {
    const shown = presentStatus({ kind: 'running' });
    assert.equal(shown.text, '$(hubot) Qwen');
    assert.equal(shown.command, 'qwen.showStatus');
  });

  it('starting', () => {
    const shown = presentStatus({ kind: 'starting' });
    assert.equal(shown.text, '$(loading~spin) Qwen');
    assert.equal(shown.command, 'qwen.showOutput');
  });

  it('server not installed: clicking tries again', () => {
    const shown = presentStatus({
      kind: 'missing',
      message: 'Install it with `pip install qwen-ls`.',
    });
    assert.equal(shown.text, '$(error) Qwen: not installed');
    assert.equal(shown.command, 'qwen.restartServer');
    assert.equal(shown.severity, 'error');
    assert.match(shown.tooltip, /pip install qwen-ls/);
  });

  it('server stopped: clicking restarts', () => {
    const shown = presentStatus({ kind: 'stopped', reason: 'qwen-ls stopped.' });
    assert.equal(shown.text, '$(error) Qwen: stopped');
    assert.equal(shown.command, 'qwen.restartServer');
    assert.equal(shown.tooltip, 'qwen-ls stopped.\n\nClick to restart it.');
  });

  it('a stale notification does not hide that the server stopped', () => {
    assert.equal(presentStatus({ kind: 'stopped' }, status()).command, 'qwen.restartServer');
  });
});

describe('shorten', () => {
  it('keeps short text and cuts long text to the limit with an ellipsis', () => {
    assert.equal(shorten('short'), 'short');
    assert.equal(shorten('a\n  b'), 'a b');
    assert.equal(shorten('abcdefghij', 5), 'abcd…');
    assert.equal(shorten('abcdefghij', 5).length, 5);
  });
});

describe('which folder the status bar shows', () => {
  const A = 'file:///home/dev/a';
  const NESTED = 'file:///home/dev/a/sub';
  const B = 'file:///home/dev/b';
  const statuses = new Map<string | null, StatusNotification>([
    [A, status({ workspaceFolder: A, model: 'model-a' })],
    [NESTED, status({ workspaceFolder: NESTED, model: 'model-nested' })],
    [B, status({ workspaceFolder: B, model: 'model-b' })],
  ]);
  const folders = [B, A, NESTED];

  it('the deepest folder holding the document', () => {
    assert.equal(statusFor(statuses, folders, `${NESTED}/x.py`)?.model, 'model-nested');
    assert.equal(statusFor(statuses, folders, `${A}/x.py`)?.model, 'model-a');
    assert.equal(statusFor(statuses, folders, A)?.model, 'model-a');
  });

  it('does not take a folder whose name is a prefix of another', () => {
    assert.equal(statusFor(statuses, folders, 'file:///home/dev/abc/x.py')?.model, 'model-b');
  });

  it('without a document: the first folder', () => {
    assert.equal(statusFor(statuses, folders)?.model, 'model-b');
  });

  it('without folders: the user-level status', () => {
    const user = new Map([[null, status({ workspaceFolder: null, model: 'model-user' })]]);
    assert.equal(statusFor(user, [], 'untitled:Untitled-1')?.model, 'model-user');
  });

  it('nothing yet', () => {
    assert.equal(statusFor(new Map(), [A]), undefined);
  });
});

describe('parsing qwen/status', () => {
  it('accepts the protocol shape', () => {
    const value = status({ problems: ['p'] });
    assert.deepEqual(parseStatusNotification(JSON.parse(JSON.stringify(value))), value);
  });

  it('rejects what is not a status', () => {
    assert.equal(parseStatusNotification(null), undefined);
    assert.equal(parseStatusNotification({ model: 'x' }), undefined);
    assert.equal(parseStatusNotification({ signedIn: true, model: 3 }), undefined);
  });

  it('fills absent optional fields with null and drops non-string problems', () => {
    assert.deepEqual(parseStatusNotification({ signedIn: false, problems: ['a', 1] }), {
      workspaceFolder: null,
      authType: null,
      model: null,
      signedIn: false,
      problems: ['a'],
    });
  });
});

describe('the qwen.status report', () => {
  it('lists each value with where it came from, then the problems', () => {
    const report = formatStatusReport({
      workspaceFolder: FOLDER,
      authType: 'openai',
      model: 'qwen3-coder-plus',
      baseUrl: 'https://dashscope.aliyuncs.com/compatible-mode/v1',
      apiKey: 'sk-…abcd',
      signedIn: false,
      envFile: '/home/ana/project/.env',
      sources: {
        authType: 'default',
        model: 'setting qwen.model',
        apiKey: 'OPENAI_API_KEY in .env',
      },
      problems: ['the key was rejected (401)'],
    });
    assert.equal(report.summary, 'Qwen: not signed in');
    assert.equal(
      report.detail,
      [
        `Workspace folder: ${FOLDER}`,
        'Auth type: openai (default)',
        'Model: qwen3-coder-plus (setting qwen.model)',
        'Base URL: https://dashscope.aliyuncs.com/compatible-mode/v1',
        'API key: sk-…abcd (OPENAI_API_KEY in .env)',
        '.env file: /home/ana/project/.env',
        '',
        'Problems:',
        '• the key was rejected (401)',
      ].join('\n'),
    );
  });
});
