import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  didChangeConfigurationParams,
  initializationOptions,
  logLevelFlags,
  qwenSettings,
  readSettings,
  type ExtensionSettings,
} from '../src/settings';

const UNSET: ExtensionSettings = {
  serverPath: '',
  model: '',
  authType: '',
  openaiBaseUrl: '',
  logLevel: 'warning',
};

function reader(values: Record<string, unknown>): (key: string) => unknown {
  return (key) => values[key];
}

describe('reading qwenLs.* settings', () => {
  it('takes valid values, trimmed', () => {
    assert.deepEqual(
      readSettings(
        reader({
          serverPath: ' /opt/qwen-ls ',
          model: 'qwen3-coder-plus',
          authType: 'qwen-oauth',
          openaiBaseUrl: 'https://example.test/v1',
          logLevel: 'debug',
        }),
      ),
      {
        serverPath: '/opt/qwen-ls',
        model: 'qwen3-coder-plus',
        authType: 'qwen-oauth',
        openaiBaseUrl: 'https://example.test/v1',
        logLevel: 'debug',
      },
    );
  });

  it('falls back to the defaults for missing or bad values', () => {
    assert.deepEqual(readSettings(reader({})), UNSET);
    assert.deepEqual(
      readSettings(reader({ serverPath: 3, authType: 'password', logLevel: 'loud' })),
      UNSET,
    );
  });
});

describe('what the server receives', () => {
  it("only the values that are set, so the server's own sources fill the rest", () => {
    assert.deepEqual(qwenSettings(UNSET), {});
    assert.deepEqual(qwenSettings({ ...UNSET, model: 'qwen3-coder-plus' }), {
      model: 'qwen3-coder-plus',
    });
  });

  it('initializationOptions: {qwen: {...}} with the key from secret storage', () => {
    const settings: ExtensionSettings = {
      ...UNSET,
      authType: 'openai',
      model: 'qwen3-coder-plus',
      openaiBaseUrl: 'https://example.test/v1',
    };
    assert.deepEqual(initializationOptions(settings, 'sk-secret-123456'), {
      qwen: {
        authType: 'openai',
        model: 'qwen3-coder-plus',
        openaiBaseUrl: 'https://example.test/v1',
        openaiApiKey: 'sk-secret-123456',
      },
    });
  });

  it('workspace/didChangeConfiguration: {settings: {qwen: {...}}}', () => {
    assert.deepEqual(didChangeConfigurationParams(UNSET, 'sk-secret-123456'), {
      settings: { qwen: { openaiApiKey: 'sk-secret-123456' } },
    });
  });

  it('after sign-out the key is absent, which clears it on the server', () => {
    assert.deepEqual(didChangeConfigurationParams(UNSET, undefined), { settings: { qwen: {} } });
    assert.deepEqual(didChangeConfigurationParams(UNSET, '  '), { settings: { qwen: {} } });
  });

  it('the server path and log level are not sent', () => {
    const sent = qwenSettings({ ...UNSET, serverPath: '/x', logLevel: 'debug' });
    assert.deepEqual(sent, {});
  });
});

describe('log level flags', () => {
  it('maps to -v and -vv', () => {
    assert.deepEqual(logLevelFlags('warning'), []);
    assert.deepEqual(logLevelFlags('info'), ['-v']);
    assert.deepEqual(logLevelFlags('debug'), ['-vv']);
  });
});
