// @ts-check
// The chat view's script: shows the turns the extension sends (their HTML is
// rendered and made safe by the extension) and sends back questions, Stop and
// New chat. Message shapes: ToWebview and FromWebview in src/chatView.ts.
(function () {
  'use strict';

  /**
   * @typedef {{ id: number, prompt: string, context?: string, answerHtml: string,
   *   reasoningHtml: string, state: string, progress?: string, error?: string,
   *   model?: string }} RenderedTurn
   */

  const vscode = acquireVsCodeApi();

  /**
   * @template {HTMLElement} T
   * @param {string} id
   * @param {new () => T} type
   * @returns {T}
   */
  function byId(id, type) {
    const el = document.getElementById(id);
    if (!(el instanceof type)) {
      throw new Error(`chat view: #${id} is missing`);
    }
    return el;
  }

  const messages = byId('messages', HTMLElement);
  const prompt = byId('prompt', HTMLTextAreaElement);
  const send = byId('send', HTMLButtonElement);
  const stop = byId('stop', HTMLButtonElement);
  const newChat = byId('new-chat', HTMLButtonElement);
  let busy = false;

  const EMPTY_TEXT = 'Ask a question below, or select code and run "Qwen: Explain Selection".';

  function nearBottom() {
    return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 48;
  }

  /**
   * @param {string} tag
   * @param {string} className
   * @param {Element} parent
   * @returns {HTMLElement}
   */
  function element(tag, className, parent) {
    const el = document.createElement(tag);
    el.className = className;
    parent.appendChild(el);
    return el;
  }

  function showEmptyHint() {
    if (messages.children.length === 0) {
      element('p', 'empty', messages).textContent = EMPTY_TEXT;
    }
  }

  /**
   * @param {number} id
   * @returns {HTMLElement}
   */
  function turnElement(id) {
    const existing = messages.querySelector(`section[data-id="${id}"]`);
    if (existing instanceof HTMLElement) {
      return existing;
    }
    const hint = messages.querySelector('.empty');
    if (hint) {
      hint.remove();
    }
    const section = element('section', 'turn', messages);
    section.dataset.id = String(id);
    const question = element('div', 'question', section);
    element('div', 'context', question);
    element('div', 'prompt', question);
    const reasoning = element('details', 'reasoning', section);
    element('summary', '', reasoning).textContent = 'Thinking';
    element('div', 'reasoning-text', reasoning);
    element('div', 'answer', section);
    element('div', 'meta', section);
    return section;
  }

  /**
   * @param {RenderedTurn} turn
   * @returns {string}
   */
  function metaText(turn) {
    switch (turn.state) {
      case 'streaming':
        return turn.progress || 'Thinking…';
      case 'cancelled':
        return 'Stopped.';
      case 'error':
        return turn.error || 'Failed.';
      default:
        return turn.model || '';
    }
  }

  /**
   * @param {Element} parent
   * @param {string} selector
   * @returns {HTMLElement}
   */
  function part(parent, selector) {
    const el = parent.querySelector(selector);
    if (!(el instanceof HTMLElement)) {
      throw new Error(`chat view: ${selector} is missing`);
    }
    return el;
  }

  /** @param {RenderedTurn} turn */
  function renderTurn(turn) {
    const follow = nearBottom();
    const section = turnElement(turn.id);
    section.dataset.state = turn.state;
    part(section, '.context').textContent = turn.context || '';
    part(section, '.prompt').textContent = turn.prompt;
    const reasoning = part(section, '.reasoning');
    reasoning.hidden = turn.reasoningHtml === '';
    // The extension renders this HTML with raw HTML disabled (src/markdown.ts).
    part(section, '.reasoning-text').innerHTML = turn.reasoningHtml;
    part(section, '.answer').innerHTML = turn.answerHtml;
    const meta = part(section, '.meta');
    meta.textContent = metaText(turn);
    meta.classList.toggle('error', turn.state === 'error');
    if (follow) {
      messages.scrollTop = messages.scrollHeight;
    }
  }

  /** @param {boolean} value */
  function setBusy(value) {
    busy = value;
    send.disabled = busy;
    stop.disabled = !busy;
  }

  function submit() {
    const text = prompt.value.trim();
    if (text === '' || busy) {
      return;
    }
    vscode.postMessage({ type: 'ask', prompt: text });
    prompt.value = '';
  }

  window.addEventListener('message', (event) => {
    const message = event.data;
    switch (message.type) {
      case 'reset':
        messages.replaceChildren();
        message.turns.forEach(renderTurn);
        showEmptyHint();
        setBusy(message.busy);
        break;
      case 'turn':
        renderTurn(message.turn);
        break;
      case 'busy':
        setBusy(message.busy);
        break;
    }
  });

  prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  send.addEventListener('click', submit);
  stop.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));
  newChat.addEventListener('click', () => vscode.postMessage({ type: 'newChat' }));

  showEmptyHint();
  vscode.postMessage({ type: 'ready' });
  prompt.focus();
})();
