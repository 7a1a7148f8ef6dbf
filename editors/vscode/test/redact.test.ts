import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { redact } from '../src/redact';

describe('redact', () => {
  it('masks every occurrence of each secret', () => {
    const text = '{"qwen":{"openaiApiKey":"sk-abc123456789"}} and sk-abc123456789 again';
    assert.equal(
      redact(text, ['sk-abc123456789']),
      '{"qwen":{"openaiApiKey":"<redacted>"}} and <redacted> again',
    );
  });

  it('masks the JSON-escaped form too', () => {
    const secret = 'key"with\\quotes';
    const traced = JSON.stringify({ apiKey: secret });
    assert.equal(redact(traced, [secret]), '{"apiKey":"<redacted>"}');
  });

  it('leaves short strings alone, which could be ordinary text', () => {
    assert.equal(redact('the key is abc', ['abc']), 'the key is abc');
  });

  it('with no secrets the text is unchanged', () => {
    assert.equal(redact('plain', []), 'plain');
  });
});
