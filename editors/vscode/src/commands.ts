/**
 * The commands this extension registers itself. Their ids must not collide with
 * the server's commands, which vscode-languageclient registers under their own ids.
 */

export const OWN_COMMANDS = [
  { id: 'qwen.openChat', title: 'Chat' },
  { id: 'qwen.explainSelection', title: 'Explain Selection' },
  { id: 'qwen.editSelection', title: 'Edit Selection…' },
  { id: 'qwen.signIn', title: 'Sign In…' },
  { id: 'qwen.signOut', title: 'Sign Out' },
  { id: 'qwen.pickModel', title: 'Select Model…' },
  { id: 'qwen.showStatus', title: 'Show Status' },
  { id: 'qwen.restartServer', title: 'Restart Server' },
  { id: 'qwen.showOutput', title: 'Show Server Log' },
] as const;

export type OwnCommandId = (typeof OWN_COMMANDS)[number]['id'];

export const OWN_COMMAND_IDS: readonly OwnCommandId[] = OWN_COMMANDS.map((c) => c.id);

/** The category shown before each title in the command palette. */
export const COMMAND_CATEGORY = 'Qwen';
