/**
 * The shapes of the qwen-ls editor protocol (version 1) that this extension sends
 * and receives. Nothing here talks to VS Code or to the server.
 */

export type AuthMethod = 'qwen-oauth' | 'openai' | 'coding-plan';
export type AuthType = 'qwen-oauth' | 'openai';
export type Scope = 'workspace' | 'user';

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface ChatArgs {
  prompt: string;
  uri?: string;
  range?: Range;
  sessionId?: string;
  model?: string;
  partialResultToken?: string;
}

export interface ChatResult {
  sessionId: string;
  model: string;
  text: string;
  reasoning?: string;
  finishReason: string;
  usage?: unknown;
}

/** One `$/progress` value sent on a chat's or an edit's `partialResultToken`. */
export interface PartialValue {
  sessionId?: string;
  delta?: string;
  reasoning?: string;
}

export interface StatusArgs {
  uri?: string;
}

export interface StatusResult {
  workspaceFolder: string | null;
  authType: string | null;
  model: string | null;
  baseUrl: string | null;
  apiKey: string | null;
  signedIn: boolean;
  envFile: string | null;
  sources: Record<string, string>;
  problems: string[];
}

export interface AuthArgs {
  method?: AuthMethod;
  apiKey?: string;
  baseUrl?: string;
  model?: string;
  uri?: string;
  scope?: Scope;
}

export interface AuthResult {
  authType: string;
  signedIn: boolean;
  model: string | null;
}

export interface LogoutArgs {
  uri?: string;
  scope?: Scope;
}

export interface ListModelsArgs {
  uri?: string;
}

export interface ModelInfo {
  id: string;
  name: string;
  authType: string;
  baseUrl?: string;
  source: string;
}

export interface SelectModelArgs {
  model?: string;
  uri?: string;
  scope?: Scope;
}

export interface SelectModelResult {
  model: string;
}

export interface EditArgs {
  uri: string;
  range: Range;
  instruction: string;
  sessionId?: string;
  partialResultToken?: string;
}

export interface EditResult {
  sessionId: string;
  applied: boolean;
  text: string;
  reason?: string;
}

/** The `qwen/status` notification, sent per workspace folder. */
export interface StatusNotification {
  workspaceFolder: string | null;
  authType: string | null;
  model: string | null;
  signedIn: boolean;
  problems: string[];
}

export const STATUS_NOTIFICATION = 'qwen/status';

/** The `qwen` section of initializationOptions and workspace/didChangeConfiguration. */
export interface QwenSettings {
  authType?: AuthType;
  model?: string;
  openaiBaseUrl?: string;
  openaiApiKey?: string;
}

export const ErrorCode = {
  invalidParams: -32602,
  requestCancelled: -32800,
  requestFailed: -32803,
} as const;

export type FailureKind = 'config' | 'auth' | 'rateLimit' | 'network' | 'server' | 'badResponse';

/** `data` of a -32803 (RequestFailed) error. */
export interface FailureData {
  kind: FailureKind;
  status?: number;
  retryAfter?: number;
}
