/**
 * The chat webview: shows a ChatSession's turns as rendered Markdown and passes
 * the user's questions, Stop and New chat back.
 */

import { randomBytes } from 'node:crypto';

import * as vscode from 'vscode';

import type { ChatSink } from './chat';
import { chatHtml, parseFromWebview, renderTurn, type ToWebview } from './chatView';
import type { Turn } from './transcript';

// Streamed answers are re-rendered at most this often.
const RENDER_INTERVAL_MS = 50;

export interface ChatPanelHandlers {
  ask(prompt: string): void;
  stop(): void;
  newChat(): void;
  transcript(): readonly Turn[];
  busy(): boolean;
}

export class ChatPanel implements ChatSink, vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private readonly pending = new Map<number, Turn>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly handlers: ChatPanelHandlers,
  ) {}

  show(): void {
    if (this.panel !== undefined) {
      this.panel.reveal(undefined, true);
      return;
    }
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(
      'qwenChat',
      'Qwen Chat',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [media] },
    );
    panel.webview.html = chatHtml({
      cspSource: panel.webview.cspSource,
      nonce: randomBytes(16).toString('base64'),
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.js')).toString(),
      styleUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(media, 'chat.css')).toString(),
    });
    panel.webview.onDidReceiveMessage((raw) => this.onMessage(raw));
    panel.onDidDispose(() => {
      this.panel = undefined;
      this.pending.clear();
      // Nobody sees the answer any more.
      this.handlers.stop();
    });
    this.panel = panel;
  }

  turnChanged(turn: Turn): void {
    if (this.panel === undefined) {
      return;
    }
    this.pending.set(turn.id, turn);
    if (turn.state !== 'streaming') {
      this.flush();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), RENDER_INTERVAL_MS);
    }
  }

  reset(turns: readonly Turn[]): void {
    this.pending.clear();
    this.post({ type: 'reset', turns: turns.map(renderTurn), busy: this.handlers.busy() });
  }

  busyChanged(busy: boolean): void {
    this.post({ type: 'busy', busy });
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.panel?.dispose();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const turn of this.pending.values()) {
      this.post({ type: 'turn', turn: renderTurn(turn) });
    }
    this.pending.clear();
  }

  private post(message: ToWebview): void {
    void this.panel?.webview.postMessage(message);
  }

  private onMessage(raw: unknown): void {
    const message = parseFromWebview(raw);
    switch (message?.type) {
      case 'ready':
        this.reset(this.handlers.transcript());
        break;
      case 'ask':
        this.handlers.ask(message.prompt);
        break;
      case 'stop':
        this.handlers.stop();
        break;
      case 'newChat':
        this.handlers.newChat();
        break;
      default:
        break;
    }
  }
}
