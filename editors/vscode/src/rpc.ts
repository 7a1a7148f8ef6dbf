/**
 * Sending server commands over an LSP connection: plain ones, and streamed ones
 * (`qwen.chat`, `qwen.edit`) with a work-done token and a partial-result token of
 * the client's own. Works on a LanguageClient and on a bare vscode-jsonrpc
 * connection alike, so it is tested without VS Code.
 */

import { randomUUID } from 'node:crypto';

import {
  CancellationTokenSource,
  ExecuteCommandRequest,
  ProgressType,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  type CancellationToken,
  type Disposable,
  type ExecuteCommandParams,
  type NotificationHandler,
  type WorkDoneProgressCancelParams,
} from 'vscode-languageserver-protocol';

import { commandParams, streamingParams, type StreamedCommand } from './args';
import type { RunningRequest, StreamHandlers } from './chat';
import type { ServerCommand } from './serverCommands';

/** The part of a LanguageClient (or MessageConnection) used here. */
export interface CommandConnection {
  sendRequest(
    type: typeof ExecuteCommandRequest.type,
    params: ExecuteCommandParams,
    token?: CancellationToken,
  ): Promise<unknown>;
  sendNotification(
    type: typeof WorkDoneProgressCancelNotification.type,
    params: WorkDoneProgressCancelParams,
  ): Promise<void>;
  onProgress<P>(
    type: ProgressType<P>,
    token: string | number,
    handler: NotificationHandler<P>,
  ): Disposable;
}

export interface StreamOptions {
  /**
   * After a work-done cancel the server returns what it has; if it has not
   * answered after this long, the request itself is cancelled.
   */
  stopGraceMs?: number;
  newToken?: () => string;
}

const DEFAULT_STOP_GRACE_MS = 3_000;
const PARTIAL_RESULT = new ProgressType<unknown>();

/** Runs a server command whose argument object is its only argument. */
export async function runCommand<R>(
  connection: CommandConnection,
  command: ServerCommand,
  argument: object,
): Promise<R> {
  const params = commandParams(command, argument) as ExecuteCommandParams;
  return (await connection.sendRequest(ExecuteCommandRequest.type, params)) as R;
}

/**
 * Sends `qwen.chat` or `qwen.edit` and passes what arrives on its tokens to
 * `handlers`: partial results as they are, work-done reports as their message.
 */
export function runStreamed<R>(
  connection: CommandConnection,
  request: StreamedCommand,
  handlers: StreamHandlers,
  options: StreamOptions = {},
): RunningRequest<R> {
  const newToken = options.newToken ?? randomUUID;
  const tokens = { partialResultToken: newToken(), workDoneToken: newToken() };
  const cancellation = new CancellationTokenSource();
  let graceTimer: NodeJS.Timeout | undefined;
  let settled = false;

  const subscriptions = [
    connection.onProgress(PARTIAL_RESULT, tokens.partialResultToken, (value) => {
      handlers.onPartial(value);
    }),
    connection.onProgress(WorkDoneProgress.type, tokens.workDoneToken, (value) => {
      if (value.kind !== 'end' && value.message !== undefined) {
        handlers.onProgress(value.message);
      }
    }),
  ];
  const params = streamingParams(request, tokens) as ExecuteCommandParams;
  const result = connection
    .sendRequest(ExecuteCommandRequest.type, params, cancellation.token)
    .then((value) => value as R)
    .finally(() => {
      settled = true;
      clearTimeout(graceTimer);
      for (const subscription of subscriptions) {
        subscription.dispose();
      }
      cancellation.dispose();
    });

  let stopped = false;
  const stop = (): void => {
    if (stopped || settled) {
      return;
    }
    stopped = true;
    connection
      .sendNotification(WorkDoneProgressCancelNotification.type, { token: tokens.workDoneToken })
      .catch(() => {
        cancellation.cancel();
      });
    graceTimer = setTimeout(() => {
      if (!settled) {
        cancellation.cancel();
      }
    }, options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
  };
  return { result, stop };
}
