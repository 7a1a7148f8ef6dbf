import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { modelPickItems } from '../src/models';

describe('the model quick pick', () => {
  const models = [
    {
      id: 'qwen3-coder-flash',
      name: 'Qwen3 Coder Flash',
      authType: 'openai',
      source: 'modelProviders in ~/.qwen/settings.json',
      baseUrl: 'https://example.test/v1',
    },
    { id: 'qwen3-coder-plus', name: 'qwen3-coder-plus', authType: 'openai', source: 'default' },
    { id: 'coder-model', name: 'Qwen Coder', authType: 'qwen-oauth', source: 'Qwen OAuth' },
  ];

  it('puts the current model first and marks it', () => {
    assert.deepEqual(modelPickItems(models, 'qwen3-coder-plus'), [
      {
        label: '$(check) qwen3-coder-plus',
        description: 'openai · current',
        detail: 'default',
        model: 'qwen3-coder-plus',
        current: true,
      },
      {
        label: 'Qwen3 Coder Flash',
        description: 'qwen3-coder-flash · openai',
        detail: 'modelProviders in ~/.qwen/settings.json · https://example.test/v1',
        model: 'qwen3-coder-flash',
        current: false,
      },
      {
        label: 'Qwen Coder',
        description: 'coder-model · qwen-oauth',
        detail: 'Qwen OAuth',
        model: 'coder-model',
        current: false,
      },
    ]);
  });

  it('marks nothing when the current model is not listed', () => {
    assert.equal(modelPickItems(models, 'other').filter((i) => i.current).length, 0);
    assert.equal(modelPickItems(models, null)[0]?.model, 'qwen3-coder-flash');
  });

  it('uses the id when a model has no name', () => {
    assert.equal(
      modelPickItems([{ id: 'm', name: '', authType: 'openai', source: 's' }], null)[0]?.label,
      'm',
    );
  });
});
