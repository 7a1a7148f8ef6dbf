/**
 * The Python interpreter of the user's selected environment: from the Python
 * extension's API when it is installed, else the `python.defaultInterpreterPath`
 * setting.
 */

import * as vscode from 'vscode';

import { substituteWorkspaceFolder } from './serverPath';

const PYTHON_EXTENSION_ID = 'ms-python.python';
const API_TIMEOUT_MS = 10_000;

// The part of the Python extension's API used here (its `environments` API).
interface PythonEnvironmentsApi {
  getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
  resolveEnvironment(
    environment: { path: string } | string,
  ): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
}

interface PythonApi {
  environments?: PythonEnvironmentsApi;
}

function withTimeout<T>(promise: Thenable<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}

async function pythonExtensionApi(): Promise<PythonEnvironmentsApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  const api = extension.isActive
    ? extension.exports
    : await withTimeout(extension.activate(), API_TIMEOUT_MS);
  return api?.environments;
}

async function fromPythonExtension(resource: vscode.Uri | undefined): Promise<string | undefined> {
  try {
    const environments = await pythonExtensionApi();
    if (environments === undefined) {
      return undefined;
    }
    const active = environments.getActiveEnvironmentPath(resource);
    const resolved = await withTimeout(environments.resolveEnvironment(active), API_TIMEOUT_MS);
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch {
    return undefined;
  }
}

function fromSetting(resource: vscode.Uri | undefined): string | undefined {
  const configured = vscode.workspace
    .getConfiguration('python', resource)
    .get<string>('defaultInterpreterPath', '')
    .trim();
  if (configured === '') {
    return undefined;
  }
  const folder = resource
    ? vscode.workspace.getWorkspaceFolder(resource)
    : vscode.workspace.workspaceFolders?.[0];
  return substituteWorkspaceFolder(configured, folder?.uri.fsPath);
}

export async function selectedPython(resource?: vscode.Uri): Promise<string | undefined> {
  return (await fromPythonExtension(resource)) ?? fromSetting(resource);
}

/** Calls `listener` when the user picks another Python environment. */
export async function onPythonChanged(
  listener: () => void,
): Promise<vscode.Disposable | undefined> {
  try {
    const environments = await pythonExtensionApi();
    return environments?.onDidChangeActiveEnvironmentPath?.(() => listener());
  } catch {
    return undefined;
  }
}
