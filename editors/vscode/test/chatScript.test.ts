/** The chat webview's script (media/chat.js) in a simulated DOM. */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, it } from 'node:test';

import { JSDOM } from 'jsdom';

import { chatHtml, type RenderedTurn, type ToWebview } from '../src/chatView';

const ROOT = path.resolve(__dirname, '..', '..');
const SCRIPT = fs.readFileSync(path.join(ROOT, 'media', 'chat.js'), 'utf8');

interface View {
  window: JSDOM['window'];
  document: Document;
  posted: unknown[];
  send(message: ToWebview): void;
  byId(id: string): HTMLElement;
}

function open(): View {
  const html = chatHtml({
    cspSource: 'vscode-resource:',
    nonce: 'n',
    scriptUri: 'chat.js',
    styleUri: 'chat.css',
  });
  const dom = new JSDOM(html, { runScripts: 'outside-only' });
  const posted: unknown[] = [];
  Object.assign(dom.window, {
    // Messages cross to the extension as JSON.
    acquireVsCodeApi: () => ({
      postMessage: (m: unknown) => posted.push(JSON.parse(JSON.stringify(m))),
    }),
  });
  dom.window.eval(SCRIPT);
  const document = dom.window.document;
  return {
    window: dom.window,
    document,
    posted,
    send: (message) => {
      dom.window.dispatchEvent(new dom.window.MessageEvent('message', { data: message }));
    },
    byId: (id) => {
      const el = document.getElementById(id);
      assert.ok(el, `#${id}`);
      return el;
    },
  };
}

function turn(overrides: Partial<RenderedTurn> = {}): RenderedTurn {
  return {
    id: 1,
    prompt: 'What does add do?',
    answerHtml: '<p>It adds.</p>\n',
    reasoningHtml: '',
    state: 'done',
    model: 'qwen3-coder-plus',
    ...overrides,
  };
}

function sections(view: View): HTMLElement[] {
  return [...view.document.querySelectorAll<HTMLElement>('section.turn')];
}

function text(section: HTMLElement, selector: string): string {
  return section.querySelector(selector)?.textContent ?? '';
}

describe('the chat webview script', () => {
  let view: View;
  beforeEach(() => {
    view = open();
  });

  it('says it is ready and shows a hint while empty', () => {
    assert.deepEqual(view.posted, [{ type: 'ready' }]);
    assert.match(view.document.querySelector('.empty')?.textContent ?? '', /Explain Selection/);
  });

  it('shows the turns of a reset, the prompt as plain text', () => {
    view.send({
      type: 'reset',
      busy: false,
      turns: [turn({ prompt: '<b>why</b>', context: 'app.py:3-9' }), turn({ id: 2 })],
    });
    const shown = sections(view);
    assert.equal(shown.length, 2);
    assert.equal(view.document.querySelector('.empty'), null);
    assert.equal(text(shown[0], '.prompt'), '<b>why</b>');
    assert.equal(shown[0].querySelector('.prompt b'), null);
    assert.equal(text(shown[0], '.context'), 'app.py:3-9');
    assert.equal(shown[0].querySelector('.answer')?.innerHTML, '<p>It adds.</p>\n');
    assert.equal(text(shown[0], '.meta'), 'qwen3-coder-plus');
  });

  it('updates a streaming turn in place', () => {
    view.send({
      type: 'turn',
      turn: turn({ state: 'streaming', answerHtml: '<p>It</p>', progress: 'It' }),
    });
    view.send({
      type: 'turn',
      turn: turn({ state: 'streaming', answerHtml: '<p>It adds</p>', reasoningHtml: '<p>hmm</p>' }),
    });
    const shown = sections(view);
    assert.equal(shown.length, 1);
    assert.equal(shown[0].querySelector('.answer')?.innerHTML, '<p>It adds</p>');
    assert.equal(text(shown[0], '.meta'), 'Thinking…');
    const reasoning = shown[0].querySelector<HTMLElement>('.reasoning');
    assert.ok(reasoning);
    assert.equal(reasoning.hidden, false);
    assert.equal(reasoning.querySelector('.reasoning-text')?.innerHTML, '<p>hmm</p>');
  });

  it('hides an empty reasoning section and says how a turn ended', () => {
    view.send({ type: 'turn', turn: turn({ id: 1, state: 'cancelled' }) });
    view.send({ type: 'turn', turn: turn({ id: 2, state: 'error', error: 'No API key.' }) });
    const [cancelled, failed] = sections(view);
    assert.equal(cancelled.querySelector<HTMLElement>('.reasoning')?.hidden, true);
    assert.equal(text(cancelled, '.meta'), 'Stopped.');
    assert.equal(text(failed, '.meta'), 'No API key.');
    assert.ok(failed.querySelector('.meta')?.classList.contains('error'));
  });

  it('Enter sends the question and clears the box; Shift+Enter does not send', () => {
    const prompt = view.byId('prompt') as HTMLTextAreaElement;
    prompt.value = '  a question  ';
    prompt.dispatchEvent(
      new view.window.KeyboardEvent('keydown', { key: 'Enter', shiftKey: true }),
    );
    assert.deepEqual(view.posted.slice(1), []);
    prompt.dispatchEvent(new view.window.KeyboardEvent('keydown', { key: 'Enter' }));
    assert.deepEqual(view.posted.slice(1), [{ type: 'ask', prompt: 'a question' }]);
    assert.equal(prompt.value, '');
  });

  it('while busy: Send is off, Stop is on and posts stop', () => {
    view.send({ type: 'busy', busy: true });
    const send = view.byId('send') as HTMLButtonElement;
    const stop = view.byId('stop') as HTMLButtonElement;
    assert.equal(send.disabled, true);
    assert.equal(stop.disabled, false);

    const prompt = view.byId('prompt') as HTMLTextAreaElement;
    prompt.value = 'another';
    prompt.dispatchEvent(new view.window.KeyboardEvent('keydown', { key: 'Enter' }));
    stop.click();
    assert.deepEqual(view.posted.slice(1), [{ type: 'stop' }]);

    view.send({ type: 'busy', busy: false });
    assert.equal(send.disabled, false);
    assert.equal(stop.disabled, true);
  });

  it('New chat posts newChat; the reset that follows empties the view', () => {
    view.send({ type: 'reset', busy: false, turns: [turn()] });
    (view.byId('new-chat') as HTMLButtonElement).click();
    assert.deepEqual(view.posted.slice(1), [{ type: 'newChat' }]);
    view.send({ type: 'reset', busy: false, turns: [] });
    assert.equal(sections(view).length, 0);
    assert.ok(view.document.querySelector('.empty'));
  });
});
