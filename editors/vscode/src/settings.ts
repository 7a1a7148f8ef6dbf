/**
 * The extension's settings (`qwenLs.*`) and what they become for the server: the
 * `qwen` section of initializationOptions and of workspace/didChangeConfiguration.
 * The API key comes from SecretStorage, never from a settings file.
 */

import type { AuthType, QwenSettings } from './protocol';

export type LogLevel = 'warning' | 'info' | 'debug';

export interface ExtensionSettings {
  serverPath: string;
  model: string;
  authType: AuthType | '';
  openaiBaseUrl: string;
  logLevel: LogLevel;
}

/** The SecretStorage key under which the OpenAI-compatible API key is kept. */
export const API_KEY_SECRET = 'qwen.openaiApiKey';

/** The configuration section of this extension's settings. */
export const SETTINGS_SECTION = 'qwenLs';

/** Settings whose change needs a new server process. */
export const RESTART_SETTINGS = ['qwenLs.serverPath', 'qwenLs.logLevel'] as const;

/** Settings whose change is pushed to the running server. */
export const PUSHED_SETTINGS = ['qwenLs.model', 'qwenLs.authType', 'qwenLs.openaiBaseUrl'] as const;

const LOG_LEVELS: readonly LogLevel[] = ['warning', 'info', 'debug'];
const AUTH_TYPES: readonly AuthType[] = ['openai', 'qwen-oauth'];

function str(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

/** Reads `qwenLs.*` through `get(key)` (a WorkspaceConfiguration's get), tolerating bad values. */
export function readSettings(get: (key: string) => unknown): ExtensionSettings {
  const authType = str(get('authType'));
  const logLevel = str(get('logLevel'));
  return {
    serverPath: str(get('serverPath')),
    model: str(get('model')),
    authType: (AUTH_TYPES as readonly string[]).includes(authType) ? (authType as AuthType) : '',
    openaiBaseUrl: str(get('openaiBaseUrl')),
    logLevel: (LOG_LEVELS as readonly string[]).includes(logLevel)
      ? (logLevel as LogLevel)
      : 'warning',
  };
}

/** The `qwen` section: only the values that are set, so the server's own sources apply to the rest. */
export function qwenSettings(settings: ExtensionSettings, apiKey?: string): QwenSettings {
  const section: QwenSettings = {};
  if (settings.authType !== '') {
    section.authType = settings.authType;
  }
  if (settings.model !== '') {
    section.model = settings.model;
  }
  if (settings.openaiBaseUrl !== '') {
    section.openaiBaseUrl = settings.openaiBaseUrl;
  }
  if (apiKey !== undefined && apiKey.trim() !== '') {
    section.openaiApiKey = apiKey.trim();
  }
  return section;
}

export function initializationOptions(
  settings: ExtensionSettings,
  apiKey?: string,
): { qwen: QwenSettings } {
  return { qwen: qwenSettings(settings, apiKey) };
}

export function didChangeConfigurationParams(
  settings: ExtensionSettings,
  apiKey?: string,
): { settings: { qwen: QwenSettings } } {
  return { settings: { qwen: qwenSettings(settings, apiKey) } };
}

/** The server's verbosity flags for `qwenLs.logLevel`. */
export function logLevelFlags(level: LogLevel): string[] {
  switch (level) {
    case 'info':
      return ['-v'];
    case 'debug':
      return ['-vv'];
    default:
      return [];
  }
}
