import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { chatHtml, parseFromWebview, renderTurn } from '../src/chatView';
import { newTurn } from '../src/transcript';

describe('the chat view', () => {
  it('renders answers as Markdown', () => {
    const turn = newTurn(1, 'q');
    turn.answer = '**bold**\n\n```python\nprint(1)\n```';
    const rendered = renderTurn(turn);
    assert.equal(
      rendered.answerHtml,
      '<p><strong>bold</strong></p>\n<pre><code class="language-python">print(1)\n</code></pre>\n',
    );
  });

  it('shows raw HTML in an answer as text', () => {
    const turn = newTurn(1, 'q');
    turn.answer = '<script>alert(1)</script><img src=x onerror=alert(1)>';
    const html = renderTurn(turn).answerHtml;
    assert.doesNotMatch(html, /<script|<img/);
    assert.match(html, /&lt;script&gt;/);
  });

  it('drops javascript: links', () => {
    const turn = newTurn(1, 'q');
    turn.answer = '[click](javascript:alert(1))';
    assert.doesNotMatch(renderTurn(turn).answerHtml, /href="javascript/);
  });

  it('keeps reasoning apart and passes the prompt as plain text', () => {
    const turn = newTurn(3, '<b>why</b>?', 'app.py:3-9');
    turn.reasoning = 'thinking';
    const rendered = renderTurn(turn);
    assert.equal(rendered.prompt, '<b>why</b>?');
    assert.equal(rendered.context, 'app.py:3-9');
    assert.equal(rendered.reasoningHtml, '<p>thinking</p>\n');
    assert.equal(rendered.answerHtml, '');
  });

  it('the shell allows only its own script and styles', () => {
    const html = chatHtml({
      cspSource: 'vscode-webview://abc',
      nonce: 'n0nce',
      scriptUri: 'vscode-webview://abc/media/chat.js',
      styleUri: 'vscode-webview://abc/media/chat.css',
    });
    assert.match(
      html,
      /content="default-src 'none'; style-src vscode-webview:\/\/abc; img-src vscode-webview:\/\/abc https: data:; script-src 'nonce-n0nce'"/,
    );
    assert.match(
      html,
      /<script nonce="n0nce" src="vscode-webview:\/\/abc\/media\/chat.js"><\/script>/,
    );
    assert.equal((html.match(/<script/g) ?? []).length, 1);
    for (const id of ['messages', 'prompt', 'send', 'stop', 'new-chat']) {
      assert.match(html, new RegExp(`id="${id}"`));
    }
  });

  it('accepts only the messages its script sends', () => {
    assert.deepEqual(parseFromWebview({ type: 'ask', prompt: 'hi' }), {
      type: 'ask',
      prompt: 'hi',
    });
    assert.deepEqual(parseFromWebview({ type: 'stop', extra: 1 }), { type: 'stop' });
    assert.deepEqual(parseFromWebview({ type: 'newChat' }), { type: 'newChat' });
    assert.deepEqual(parseFromWebview({ type: 'ready' }), { type: 'ready' });
    assert.equal(parseFromWebview({ type: 'ask', prompt: '  ' }), undefined);
    assert.equal(parseFromWebview({ type: 'ask' }), undefined);
    assert.equal(parseFromWebview({ type: 'runCommand' }), undefined);
    assert.equal(parseFromWebview('stop'), undefined);
  });
});
