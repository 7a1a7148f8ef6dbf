/**
 * The commands qwen-ls advertises in executeCommandProvider (protocol version 1).
 * `server-commands.json` holds the same list for the Python tests; a test here
 * keeps the two equal.
 */

export const SERVER_COMMANDS = [
  'qwen.chat',
  'qwen.status',
  'qwen.auth',
  'qwen.logout',
  'qwen.listModels',
  'qwen.selectModel',
  'qwen.edit',
] as const;

export type ServerCommand = (typeof SERVER_COMMANDS)[number];

export const PROTOCOL_VERSION = 1;
