/**
 * Turns what a server request failed with into a message a person can act on,
 * and the command that fixes it where there is one.
 */

import type { OwnCommandId } from './commands';
import { ErrorCode, type FailureData, type FailureKind } from './protocol';

export interface ErrorAdvice {
  /** True when the request was cancelled: not an error to show. */
  cancelled: boolean;
  message: string;
  action?: { title: string; command: OwnCommandId };
}

// vscode-jsonrpc's codes for a connection that is gone.
const CONNECTION_CODES = new Set([-32099, -32098, -32097, -32096]);

const KIND_ACTIONS: Record<FailureKind, ErrorAdvice['action']> = {
  auth: { title: 'Sign In', command: 'qwen.signIn' },
  config: { title: 'Show Status', command: 'qwen.showStatus' },
  rateLimit: undefined,
  network: { title: 'Show Server Log', command: 'qwen.showOutput' },
  server: { title: 'Show Server Log', command: 'qwen.showOutput' },
  badResponse: { title: 'Show Server Log', command: 'qwen.showOutput' },
};

function failureData(data: unknown): FailureData | undefined {
  if (typeof data !== 'object' || data === null) {
    return undefined;
  }
  const kind = (data as Record<string, unknown>).kind;
  return typeof kind === 'string' && kind in KIND_ACTIONS ? (data as FailureData) : undefined;
}

function isCancellation(err: object): boolean {
  // vscode.CancellationError has this name and no code.
  return (err as { name?: unknown }).name === 'Canceled';
}

export function describeError(err: unknown): ErrorAdvice {
  if (typeof err !== 'object' || err === null) {
    return { cancelled: false, message: `qwen-ls: ${String(err)}` };
  }
  if (isCancellation(err)) {
    return { cancelled: true, message: 'Cancelled.' };
  }
  const { code, message, data } = err as { code?: unknown; message?: unknown; data?: unknown };
  const text = typeof message === 'string' && message !== '' ? message : 'the request failed';

  if (code === ErrorCode.requestCancelled) {
    return { cancelled: true, message: 'Cancelled.' };
  }
  if (typeof code === 'number' && CONNECTION_CODES.has(code)) {
    return {
      cancelled: false,
      message: `qwen-ls is not running (${text}).`,
      action: { title: 'Restart Server', command: 'qwen.restartServer' },
    };
  }
  if (code === ErrorCode.invalidParams) {
    return {
      cancelled: false,
      message: `qwen-ls rejected the request: ${text}`,
      action: { title: 'Show Server Log', command: 'qwen.showOutput' },
    };
  }
  if (code === ErrorCode.requestFailed) {
    return describeFailure(text, failureData(data));
  }
  return { cancelled: false, message: `qwen-ls: ${text}` };
}

function describeFailure(text: string, data: FailureData | undefined): ErrorAdvice {
  if (data === undefined) {
    return { cancelled: false, message: text };
  }
  let message = text;
  if (data.kind === 'rateLimit' && typeof data.retryAfter === 'number') {
    message += ` Try again in ${Math.ceil(data.retryAfter)} s.`;
  }
  return { cancelled: false, message, action: KIND_ACTIONS[data.kind] };
}
