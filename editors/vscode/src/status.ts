/**
 * Turns the server's `qwen/status` notifications (and the client's own state)
 * into what the status bar item shows and what clicking it does, and formats a
 * `qwen.status` result for people.
 */

import type { OwnCommandId } from './commands';
import type { StatusNotification, StatusResult } from './protocol';

/** The language client's life, as far as the status bar cares. */
export type ClientState =
  | { kind: 'starting' }
  | { kind: 'running' }
  | { kind: 'stopped'; reason?: string }
  | { kind: 'missing'; message: string };

export type Severity = 'ok' | 'warning' | 'error';

export interface StatusPresentation {
  text: string;
  tooltip: string;
  command: OwnCommandId;
  severity: Severity;
}

const MAX_PROBLEM_CHARS = 48;

export function shorten(text: string, max: number = MAX_PROBLEM_CHARS): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1).trimEnd()}…`;
}

function folderLine(status: StatusNotification): string {
  return status.workspaceFolder === null
    ? 'Scope: user settings (no workspace folder)'
    : `Folder: ${decodeURIComponent(status.workspaceFolder.replace(/^file:\/\//, ''))}`;
}

function problemLines(problems: readonly string[]): string[] {
  return problems.map((p) => `• ${p}`);
}

export function presentStatus(state: ClientState, status?: StatusNotification): StatusPresentation {
  switch (state.kind) {
    case 'starting':
      return {
        text: '$(loading~spin) Qwen',
        tooltip: 'qwen-ls is starting…',
        command: 'qwen.showOutput',
        severity: 'ok',
      };
    case 'missing':
      return {
        text: '$(error) Qwen: not installed',
        tooltip: `${state.message}\n\nClick to try again.`,
        command: 'qwen.restartServer',
        severity: 'error',
      };
    case 'stopped':
      return {
        text: '$(error) Qwen: stopped',
        tooltip: `${state.reason ?? 'qwen-ls is not running.'}\n\nClick to restart it.`,
        command: 'qwen.restartServer',
        severity: 'error',
      };
    case 'running':
      return status === undefined ? waitingForStatus() : presentServerStatus(status);
  }
}

function waitingForStatus(): StatusPresentation {
  return {
    text: '$(hubot) Qwen',
    tooltip: 'qwen-ls is running. Click to show its status.',
    command: 'qwen.showStatus',
    severity: 'ok',
  };
}

function presentServerStatus(status: StatusNotification): StatusPresentation {
  const problems = status.problems.filter((p) => p.trim() !== '');
  const model = status.model ?? 'no model';
  const auth = status.authType ?? 'no auth type';

  if (!status.signedIn) {
    const first = problems[0] ?? 'not signed in';
    return {
      text: `$(warning) Qwen: ${shorten(first)}`,
      tooltip: [
        'Qwen: not signed in',
        folderLine(status),
        ...problemLines(problems),
        '',
        'Click to sign in.',
      ].join('\n'),
      command: 'qwen.signIn',
      severity: 'warning',
    };
  }

  if (problems.length > 0) {
    return {
      text: `$(warning) Qwen: ${shorten(problems[0])}`,
      tooltip: [
        `Qwen: ${model} (${auth})`,
        folderLine(status),
        ...problemLines(problems),
        '',
        'Click to select a model.',
      ].join('\n'),
      command: 'qwen.pickModel',
      severity: 'warning',
    };
  }

  return {
    text: `$(hubot) ${status.model ?? 'Qwen'}`,
    tooltip: [
      `Qwen: ${model} (${auth})`,
      folderLine(status),
      '',
      'Click to select another model.',
    ].join('\n'),
    command: 'qwen.pickModel',
    severity: 'ok',
  };
}

function contains(folder: string, uri: string): boolean {
  const base = folder.endsWith('/') ? folder : `${folder}/`;
  return uri === folder || uri.startsWith(base);
}

/**
 * The status that applies to `uri`: that of the deepest workspace folder holding
 * it; without a match that of the first folder (the server's own rule), or the
 * user-level status when there are no folders.
 */
export function statusFor(
  statuses: ReadonlyMap<string | null, StatusNotification>,
  folders: readonly string[],
  uri?: string,
): StatusNotification | undefined {
  if (uri !== undefined) {
    const holding = folders.filter((f) => contains(f, uri)).sort((a, b) => b.length - a.length);
    if (holding.length > 0) {
      return statuses.get(holding[0]);
    }
  }
  if (folders.length > 0) {
    return statuses.get(folders[0]) ?? statuses.values().next().value;
  }
  return statuses.get(null) ?? statuses.values().next().value;
}

/** Validates a `qwen/status` payload; undefined when it is not one. */
export function parseStatusNotification(value: unknown): StatusNotification | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const optionalString = (x: unknown): x is string | null | undefined =>
    x === undefined || x === null || typeof x === 'string';
  if (
    typeof v.signedIn !== 'boolean' ||
    !optionalString(v.workspaceFolder) ||
    !optionalString(v.authType) ||
    !optionalString(v.model)
  ) {
    return undefined;
  }
  const problems = Array.isArray(v.problems)
    ? v.problems.filter((p): p is string => typeof p === 'string')
    : [];
  return {
    workspaceFolder: v.workspaceFolder ?? null,
    authType: v.authType ?? null,
    model: v.model ?? null,
    signedIn: v.signedIn,
    problems,
  };
}

/** A `qwen.status` result as a headline and detail lines for a dialog. */
export function formatStatusReport(result: StatusResult): { summary: string; detail: string } {
  const summary = result.signedIn
    ? `Qwen: signed in, model ${result.model ?? '(none)'}`
    : 'Qwen: not signed in';
  const source = (key: string): string => (result.sources[key] ? ` (${result.sources[key]})` : '');
  const lines = [
    `Workspace folder: ${result.workspaceFolder ?? '(none: user level)'}`,
    `Auth type: ${result.authType ?? '(none)'}${source('authType')}`,
    `Model: ${result.model ?? '(none)'}${source('model')}`,
    `Base URL: ${result.baseUrl ?? '(none)'}${source('baseUrl')}`,
    `API key: ${result.apiKey ?? '(none)'}${source('apiKey')}`,
    `.env file: ${result.envFile ?? '(none)'}`,
  ];
  if (result.problems.length > 0) {
    lines.push('', 'Problems:', ...problemLines(result.problems));
  }
  return { summary, detail: lines.join('\n') };
}
