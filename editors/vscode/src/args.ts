/**
 * Builds the argument object of every server command, and the
 * workspace/executeCommand params that carry it. Optional fields that are not
 * set are left out, so what goes on the wire is exactly what protocol.md lists.
 */

import type {
  AuthArgs,
  ChatArgs,
  EditArgs,
  ListModelsArgs,
  LogoutArgs,
  Position,
  Range,
  SelectModelArgs,
  StatusArgs,
} from './protocol';
import type { ServerCommand } from './serverCommands';

/** workspace/executeCommand params; `arguments` holds at most one object. */
export interface CommandParams {
  command: ServerCommand;
  arguments: [object];
  workDoneToken?: string;
}

/** Where a command was invoked from: a document (or folder) and maybe a selection. */
export interface EditorContext {
  uri?: string;
  range?: Range;
}

function compact<T extends object>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value !== undefined) {
      out[key] = value;
    }
  }
  return out as T;
}

function nonBlank(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined;
}

export function isEmptyRange(range: Range): boolean {
  return range.start.line === range.end.line && range.start.character === range.end.character;
}

function copyPosition(p: Position): Position {
  return { line: p.line, character: p.character };
}

/**
 * The context a command sends: the document's URI always (it picks the workspace
 * folder), the range only when something is selected.
 */
export function editorContext(uri: string | undefined, selection?: Range): EditorContext {
  if (uri === undefined) {
    return {};
  }
  if (selection === undefined || isEmptyRange(selection)) {
    return { uri };
  }
  return {
    uri,
    range: { start: copyPosition(selection.start), end: copyPosition(selection.end) },
  };
}

export function chatArgs(args: ChatArgs): ChatArgs {
  const prompt = args.prompt.trim();
  if (prompt === '') {
    throw new Error('qwen.chat needs a prompt');
  }
  return compact({
    prompt,
    uri: args.uri,
    range: args.uri !== undefined ? args.range : undefined,
    sessionId: args.sessionId,
    model: nonBlank(args.model),
    partialResultToken: args.partialResultToken,
  });
}

export function editArgs(args: EditArgs): EditArgs {
  const instruction = args.instruction.trim();
  if (instruction === '') {
    throw new Error('qwen.edit needs an instruction');
  }
  return compact({
    uri: args.uri,
    range: args.range,
    instruction,
    sessionId: args.sessionId,
    partialResultToken: args.partialResultToken,
  });
}

export function statusArgs(uri?: string): StatusArgs {
  return compact({ uri });
}

export function authArgs(args: AuthArgs): AuthArgs {
  const usesKey = args.method === 'openai' || args.method === 'coding-plan';
  return compact({
    method: args.method,
    apiKey: usesKey ? nonBlank(args.apiKey) : undefined,
    baseUrl: usesKey ? nonBlank(args.baseUrl) : undefined,
    model: nonBlank(args.model),
    uri: args.uri,
    scope: args.scope,
  });
}

export function logoutArgs(args: LogoutArgs): LogoutArgs {
  return compact({ uri: args.uri, scope: args.scope });
}

export function listModelsArgs(uri?: string): ListModelsArgs {
  return compact({ uri });
}

export function selectModelArgs(args: SelectModelArgs): SelectModelArgs {
  return compact({ model: nonBlank(args.model), uri: args.uri, scope: args.scope });
}

export function commandParams(
  command: ServerCommand,
  argument: object,
  workDoneToken?: string,
): CommandParams {
  return compact({ command, arguments: [argument] as [object], workDoneToken });
}

export type StreamedCommand =
  { command: 'qwen.chat'; args: ChatArgs } | { command: 'qwen.edit'; args: EditArgs };

export interface StreamTokens {
  partialResultToken: string;
  workDoneToken: string;
}

/** The params of a streamed `qwen.chat` or `qwen.edit`; the client picks both tokens. */
export function streamingParams(request: StreamedCommand, tokens: StreamTokens): CommandParams {
  const { partialResultToken, workDoneToken } = tokens;
  const argument =
    request.command === 'qwen.chat'
      ? chatArgs({ ...request.args, partialResultToken })
      : editArgs({ ...request.args, partialResultToken });
  return commandParams(request.command, argument, workDoneToken);
}

// Code actions carry `qwen.chat` and `qwen.edit` commands with these same argument
// objects; the extension reads them back to show the answer.

function isPosition(value: unknown): value is Position {
  const v = value as Partial<Position> | null;
  return (
    typeof v === 'object' && v !== null && Number.isInteger(v.line) && Number.isInteger(v.character)
  );
}

function parseRange(value: unknown): Range | undefined {
  const v = value as Partial<Range> | null;
  return typeof v === 'object' && v !== null && isPosition(v.start) && isPosition(v.end)
    ? { start: copyPosition(v.start), end: copyPosition(v.end) }
    : undefined;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A code action's `qwen.chat` argument, or undefined when it is not one. */
export function parseChatArgs(value: unknown): ChatArgs | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  if (typeof v.prompt !== 'string' || v.prompt.trim() === '') {
    return undefined;
  }
  return chatArgs({
    prompt: v.prompt,
    uri: optionalString(v.uri),
    range: parseRange(v.range),
    sessionId: optionalString(v.sessionId),
    model: optionalString(v.model),
  });
}

/** A code action's `qwen.edit` argument, or undefined when it is not one. */
export function parseEditArgs(value: unknown): EditArgs | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const uri = optionalString(v.uri);
  const range = parseRange(v.range);
  if (uri === undefined || range === undefined || typeof v.instruction !== 'string') {
    return undefined;
  }
  if (v.instruction.trim() === '') {
    return undefined;
  }
  return editArgs({
    uri,
    range,
    instruction: v.instruction,
    sessionId: optionalString(v.sessionId),
  });
}
