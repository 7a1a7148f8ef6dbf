/** The real file system and interpreter checks behind server path resolution (Node only). */

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';

import { findExecutable, type Probe } from './serverPath';

const IMPORT_TIMEOUT_MS = 15_000;

export function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (process.platform !== 'win32') {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

export function hasServerModule(python: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(
      python,
      ['-c', 'import qwen_ls'],
      { timeout: IMPORT_TIMEOUT_MS, windowsHide: true },
      (error) => resolve(error === null),
    );
  });
}

export const nodeProbe: Probe = {
  findOnPath: (name) =>
    findExecutable(
      name,
      { PATH: process.env.PATH, PATHEXT: process.env.PATHEXT, platform: process.platform },
      isExecutableFile,
    ),
  isFile: isExecutableFile,
  hasServerModule,
};
