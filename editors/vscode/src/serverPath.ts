/**
 * Decides how to start qwen-ls: the `qwenLs.serverPath` setting, else
 * `<python> -m qwen_ls` with the selected Python environment, else `qwen-ls` on
 * PATH. The file system and the interpreter are reached through a Probe, so the
 * rules can be tested without either.
 */

import * as path from 'node:path';

import { logLevelFlags, type LogLevel } from './settings';

export const INSTALL_COMMAND = 'pip install qwen-ls';
const SERVER_EXECUTABLE = 'qwen-ls';
const SERVER_MODULE = 'qwen_ls';

export interface ServerLaunch {
  command: string;
  args: string[];
  /** Where the command came from, for the log and the status tooltip. */
  source: 'setting' | 'python' | 'path';
}

export type Resolution =
  { ok: true; launch: ServerLaunch } | { ok: false; message: string; installCommand: string };

export interface ResolveInputs {
  /** `qwenLs.serverPath`, '' when unset. */
  serverPath: string;
  /** The selected Python interpreter, if any. */
  python?: string;
  logLevel: LogLevel;
  home: string;
}

export interface Probe {
  /** The absolute path of an executable found on PATH, or undefined. */
  findOnPath(name: string): string | undefined;
  isFile(file: string): boolean;
  /** Whether `python -c "import qwen_ls"` succeeds. */
  hasServerModule(python: string): Promise<boolean>;
}

export function expandHome(file: string, home: string): string {
  if (file === '~') {
    return home;
  }
  if (file.startsWith('~/') || file.startsWith('~\\')) {
    return path.join(home, file.slice(2));
  }
  return file;
}

/** Whether a path names a Python interpreter rather than the qwen-ls script. */
export function looksLikePython(file: string): boolean {
  const base = file.split(/[\\/]/).pop() ?? '';
  return /^python(\d+(\.\d+)?)?(w)?(\.exe)?$/i.test(base);
}

function quoteIfNeeded(arg: string): string {
  return /[\s"']/.test(arg) ? `"${arg}"` : arg;
}

function serverArgs(logLevel: LogLevel): string[] {
  return ['--stdio', ...logLevelFlags(logLevel)];
}

function fromSetting(inputs: ResolveInputs, probe: Probe): Resolution {
  const configured = expandHome(inputs.serverPath, inputs.home);
  const isPath = /[\\/]/.test(configured);
  const found = isPath
    ? probe.isFile(configured)
      ? configured
      : undefined
    : probe.findOnPath(configured);
  if (found === undefined) {
    return {
      ok: false,
      message:
        `qwenLs.serverPath is set to "${inputs.serverPath}", which was not found or is not executable. ` +
        `Point it at the qwen-ls executable (or a Python interpreter that has qwen-ls), ` +
        `or clear it and install with \`${INSTALL_COMMAND}\`.`,
      installCommand: INSTALL_COMMAND,
    };
  }
  const args = looksLikePython(found)
    ? ['-m', SERVER_MODULE, ...serverArgs(inputs.logLevel)]
    : serverArgs(inputs.logLevel);
  return { ok: true, launch: { command: found, args, source: 'setting' } };
}

export async function resolveServer(inputs: ResolveInputs, probe: Probe): Promise<Resolution> {
  if (inputs.serverPath !== '') {
    return fromSetting(inputs, probe);
  }

  const python = inputs.python?.trim() ? expandHome(inputs.python.trim(), inputs.home) : undefined;
  if (python !== undefined && (await probe.hasServerModule(python))) {
    return {
      ok: true,
      launch: {
        command: python,
        args: ['-m', SERVER_MODULE, ...serverArgs(inputs.logLevel)],
        source: 'python',
      },
    };
  }

  const onPath = probe.findOnPath(SERVER_EXECUTABLE);
  if (onPath !== undefined) {
    return {
      ok: true,
      launch: { command: onPath, args: serverArgs(inputs.logLevel), source: 'path' },
    };
  }

  return missingServer(python);
}

function missingServer(python: string | undefined): Resolution {
  if (python === undefined) {
    return {
      ok: false,
      message:
        `qwen-ls was not found on PATH. Install it with \`${INSTALL_COMMAND}\`, ` +
        'or set qwenLs.serverPath to the qwen-ls executable.',
      installCommand: INSTALL_COMMAND,
    };
  }
  const installCommand = `${quoteIfNeeded(python)} -m ${INSTALL_COMMAND}`;
  return {
    ok: false,
    message:
      `qwen-ls was not found: the Python environment ${python} does not have it and it is not on PATH. ` +
      `Install it with \`${installCommand}\` (or \`${INSTALL_COMMAND}\`), ` +
      'or set qwenLs.serverPath to the qwen-ls executable.',
    installCommand,
  };
}

export interface PathEnvironment {
  PATH?: string;
  PATHEXT?: string;
  platform: NodeJS.Platform;
}

/** Looks `name` up on PATH the way a shell would; on Windows with each PATHEXT suffix. */
export function findExecutable(
  name: string,
  env: PathEnvironment,
  isFile: (file: string) => boolean,
): string | undefined {
  const windows = env.platform === 'win32';
  const paths = windows ? path.win32 : path.posix;
  const dirs = (env.PATH ?? '').split(windows ? ';' : ':').filter((d) => d !== '');
  const suffixes = windows
    ? (env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter((s) => s !== '')
    : [''];
  for (const dir of dirs) {
    for (const suffix of suffixes) {
      const candidate = paths.join(dir, name + suffix);
      if (isFile(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** Replaces `${workspaceFolder}` (as in `python.defaultInterpreterPath`) with the folder's path. */
export function substituteWorkspaceFolder(
  value: string,
  folderPath: string | undefined,
): string | undefined {
  if (!value.includes('${workspaceFolder}')) {
    return value;
  }
  return folderPath === undefined ? undefined : value.split('${workspaceFolder}').join(folderPath);
}
