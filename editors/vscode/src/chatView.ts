/**
 * What the chat webview is made of, without the webview: its HTML shell (with a
 * strict Content-Security-Policy), the messages exchanged with its script, and
 * turns rendered for it.
 */

import { renderMarkdown } from './markdown';
import type { Turn, TurnState } from './transcript';

/** A turn as the webview's script shows it; all HTML is already safe. */
export interface RenderedTurn {
  id: number;
  prompt: string;
  context?: string;
  answerHtml: string;
  reasoningHtml: string;
  state: TurnState;
  progress?: string;
  error?: string;
  model?: string;
}

export type ToWebview =
  | { type: 'reset'; turns: RenderedTurn[]; busy: boolean }
  | { type: 'turn'; turn: RenderedTurn }
  | { type: 'busy'; busy: boolean };

export type FromWebview =
  { type: 'ready' } | { type: 'ask'; prompt: string } | { type: 'stop' } | { type: 'newChat' };

export function renderTurn(turn: Turn): RenderedTurn {
  return {
    id: turn.id,
    prompt: turn.prompt,
    context: turn.context,
    answerHtml: renderMarkdown(turn.answer),
    reasoningHtml: renderMarkdown(turn.reasoning),
    state: turn.state,
    progress: turn.progress,
    error: turn.error,
    model: turn.model,
  };
}

/** Validates a message from the webview; undefined for anything unexpected. */
export function parseFromWebview(raw: unknown): FromWebview | undefined {
  if (typeof raw !== 'object' || raw === null) {
    return undefined;
  }
  const msg = raw as Record<string, unknown>;
  switch (msg.type) {
    case 'ready':
    case 'stop':
    case 'newChat':
      return { type: msg.type };
    case 'ask':
      return typeof msg.prompt === 'string' && msg.prompt.trim() !== ''
        ? { type: 'ask', prompt: msg.prompt }
        : undefined;
    default:
      return undefined;
  }
}

export interface ShellResources {
  /** The webview's `cspSource`. */
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
}

/** Escapes a value for a double-quoted attribute. */
function attribute(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

export function chatHtml(res: ShellResources): string {
  const csp = [
    "default-src 'none'",
    `style-src ${res.cspSource}`,
    `img-src ${res.cspSource} https: data:`,
    `script-src 'nonce-${res.nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attribute(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attribute(res.styleUri)}">
<title>Qwen Chat</title>
</head>
<body>
<header>
  <button id="new-chat" type="button" title="Start a new conversation">New chat</button>
</header>
<main id="messages" aria-live="polite"></main>
<footer>
  <textarea id="prompt" rows="3" placeholder="Ask Qwen… (Enter sends, Shift+Enter adds a line)"></textarea>
  <div class="buttons">
    <button id="send" type="button">Send</button>
    <button id="stop" type="button" disabled>Stop</button>
  </div>
</footer>
<script nonce="${attribute(res.nonce)}" src="${attribute(res.scriptUri)}"></script>
</body>
</html>
`;
}
