/** The language client that runs qwen-ls, and the output channels it writes to. */

import * as vscode from 'vscode';
import {
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
} from 'vscode-languageclient/node';

import { redact } from './redact';
import type { ServerLaunch } from './serverPath';

export const CLIENT_ID = 'qwenLs';
const CLIENT_NAME = 'Qwen Code (qwen-ls)';

/** An output channel that masks the given secrets in everything written to it. */
export class RedactingChannel implements vscode.OutputChannel {
  constructor(
    private readonly inner: vscode.OutputChannel,
    private readonly secrets: () => Iterable<string>,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  append(value: string): void {
    this.inner.append(redact(value, this.secrets()));
  }

  appendLine(value: string): void {
    this.inner.appendLine(redact(value, this.secrets()));
  }

  replace(value: string): void {
    this.inner.replace(redact(value, this.secrets()));
  }

  clear(): void {
    this.inner.clear();
  }

  show(columnOrPreserveFocus?: vscode.ViewColumn | boolean, preserveFocus?: boolean): void {
    this.inner.show(
      typeof columnOrPreserveFocus === 'boolean' ? columnOrPreserveFocus : preserveFocus,
    );
  }

  hide(): void {
    this.inner.hide();
  }

  dispose(): void {
    this.inner.dispose();
  }
}

export interface ClientSetup {
  launch: ServerLaunch;
  cwd?: string;
  outputChannel: vscode.OutputChannel;
  traceChannel: vscode.OutputChannel;
  initializationOptions: () => unknown;
  middleware?: Middleware;
}

export function createClient(setup: ClientSetup): LanguageClient {
  const serverOptions: ServerOptions = {
    command: setup.launch.command,
    args: setup.launch.args,
    options: { cwd: setup.cwd },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    initializationOptions: setup.initializationOptions,
    outputChannel: setup.outputChannel,
    traceOutputChannel: setup.traceChannel,
    middleware: setup.middleware,
  };
  return new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
}
