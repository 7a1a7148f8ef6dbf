import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { hasServerModule, isExecutableFile } from '../src/probe';
import {
  expandHome,
  findExecutable,
  looksLikePython,
  resolveServer,
  substituteWorkspaceFolder,
  type Probe,
  type ResolveInputs,
} from '../src/serverPath';

const HOME = '/home/ana';

function probe(options: {
  files?: string[];
  onPath?: Record<string, string>;
  withModule?: string[];
}): Probe & {
  imported: string[];
} {
  const imported: string[] = [];
  return {
    imported,
    isFile: (file) => (options.files ?? []).includes(file),
    findOnPath: (name) => options.onPath?.[name],
    hasServerModule: (python) => {
      imported.push(python);
      return Promise.resolve((options.withModule ?? []).includes(python));
    },
  };
}

function inputs(overrides: Partial<ResolveInputs> = {}): ResolveInputs {
  return { serverPath: '', logLevel: 'warning', home: HOME, ...overrides };
}

describe('finding qwen-ls', () => {
  it('1. the qwenLs.serverPath setting wins', async () => {
    const p = probe({
      files: ['/opt/qwen/bin/qwen-ls'],
      onPath: { 'qwen-ls': '/usr/bin/qwen-ls' },
      withModule: ['/venv/bin/python'],
    });
    const resolved = await resolveServer(
      inputs({ serverPath: '/opt/qwen/bin/qwen-ls', python: '/venv/bin/python' }),
      p,
    );
    assert.deepEqual(resolved, {
      ok: true,
      launch: { command: '/opt/qwen/bin/qwen-ls', args: ['--stdio'], source: 'setting' },
    });
    assert.deepEqual(p.imported, []);
  });

  it('the setting may start with ~ and may name a command on PATH', async () => {
    const home = await resolveServer(
      inputs({ serverPath: '~/.local/bin/qwen-ls' }),
      probe({ files: ['/home/ana/.local/bin/qwen-ls'] }),
    );
    assert.equal(home.ok && home.launch.command, '/home/ana/.local/bin/qwen-ls');
    const bare = await resolveServer(
      inputs({ serverPath: 'qwen-ls-dev' }),
      probe({ onPath: { 'qwen-ls-dev': '/usr/local/bin/qwen-ls-dev' } }),
    );
    assert.equal(bare.ok && bare.launch.command, '/usr/local/bin/qwen-ls-dev');
  });

  it('a setting naming a Python interpreter runs the module', async () => {
    const resolved = await resolveServer(
      inputs({ serverPath: '/venv/bin/python3.12', logLevel: 'debug' }),
      probe({ files: ['/venv/bin/python3.12'] }),
    );
    assert.deepEqual(resolved, {
      ok: true,
      launch: {
        command: '/venv/bin/python3.12',
        args: ['-m', 'qwen_ls', '--stdio', '-vv'],
        source: 'setting',
      },
    });
  });

  it('a setting that points nowhere is an error, not a fallback', async () => {
    const resolved = await resolveServer(
      inputs({ serverPath: '/nowhere/qwen-ls' }),
      probe({ onPath: { 'qwen-ls': '/usr/bin/qwen-ls' } }),
    );
    assert.ok(!resolved.ok);
    assert.equal(
      resolved.message,
      'qwenLs.serverPath is set to "/nowhere/qwen-ls", which was not found or is not executable. ' +
        'Point it at the qwen-ls executable (or a Python interpreter that has qwen-ls), ' +
        'or clear it and install with `pip install qwen-ls`.',
    );
  });

  it('2. the selected Python environment, when it has qwen_ls', async () => {
    const resolved = await resolveServer(
      inputs({ python: '/venv/bin/python', logLevel: 'info' }),
      probe({ onPath: { 'qwen-ls': '/usr/bin/qwen-ls' }, withModule: ['/venv/bin/python'] }),
    );
    assert.deepEqual(resolved, {
      ok: true,
      launch: {
        command: '/venv/bin/python',
        args: ['-m', 'qwen_ls', '--stdio', '-v'],
        source: 'python',
      },
    });
  });

  it('3. qwen-ls on PATH when the environment lacks it', async () => {
    const p = probe({ onPath: { 'qwen-ls': '/usr/bin/qwen-ls' } });
    const resolved = await resolveServer(inputs({ python: '/venv/bin/python' }), p);
    assert.deepEqual(resolved, {
      ok: true,
      launch: { command: '/usr/bin/qwen-ls', args: ['--stdio'], source: 'path' },
    });
    assert.deepEqual(p.imported, ['/venv/bin/python']);
  });

  it('nothing found: says how to install, into the selected environment if there is one', async () => {
    const withPython = await resolveServer(
      inputs({ python: '/home/ana/my env/bin/python' }),
      probe({}),
    );
    assert.deepEqual(withPython, {
      ok: false,
      message:
        'qwen-ls was not found: the Python environment /home/ana/my env/bin/python does not have it ' +
        'and it is not on PATH. Install it with `"/home/ana/my env/bin/python" -m pip install qwen-ls` ' +
        '(or `pip install qwen-ls`), or set qwenLs.serverPath to the qwen-ls executable.',
      installCommand: '"/home/ana/my env/bin/python" -m pip install qwen-ls',
    });

    const withoutPython = await resolveServer(inputs(), probe({}));
    assert.deepEqual(withoutPython, {
      ok: false,
      message:
        'qwen-ls was not found on PATH. Install it with `pip install qwen-ls`, ' +
        'or set qwenLs.serverPath to the qwen-ls executable.',
      installCommand: 'pip install qwen-ls',
    });
  });
});

describe('path helpers', () => {
  it('expandHome', () => {
    assert.equal(expandHome('~', HOME), HOME);
    assert.equal(expandHome('~/bin/qwen-ls', HOME), path.join(HOME, 'bin/qwen-ls'));
    assert.equal(expandHome('/abs/~/x', HOME), '/abs/~/x');
  });

  it('looksLikePython', () => {
    for (const name of [
      'python',
      'python3',
      '/v/bin/python3.12',
      'C:\\Py\\python.exe',
      'pythonw.exe',
    ]) {
      assert.equal(looksLikePython(name), true, name);
    }
    for (const name of ['qwen-ls', '/usr/bin/qwen-ls', 'python-qwen', 'ipython']) {
      assert.equal(looksLikePython(name), false, name);
    }
  });

  it('substituteWorkspaceFolder', () => {
    assert.equal(
      substituteWorkspaceFolder('${workspaceFolder}/.venv/bin/python', '/p'),
      '/p/.venv/bin/python',
    );
    assert.equal(
      substituteWorkspaceFolder('${workspaceFolder}/.venv/bin/python', undefined),
      undefined,
    );
    assert.equal(substituteWorkspaceFolder('python3', undefined), 'python3');
  });

  it('findExecutable on POSIX takes the first PATH entry that has it', () => {
    const files = new Set(['/usr/local/bin/qwen-ls', '/usr/bin/qwen-ls']);
    const found = findExecutable(
      'qwen-ls',
      { PATH: '/nope:/usr/local/bin::/usr/bin', platform: 'linux' },
      (f) => files.has(f),
    );
    assert.equal(found, '/usr/local/bin/qwen-ls');
    assert.equal(
      findExecutable('qwen-ls', { platform: 'linux' }, () => true),
      undefined,
    );
  });

  it('findExecutable on Windows tries the PATHEXT suffixes', () => {
    const found = findExecutable(
      'qwen-ls',
      { PATH: 'C:\\nope;C:\\Py\\Scripts', PATHEXT: '.COM;.EXE', platform: 'win32' },
      (f) => f === 'C:\\Py\\Scripts\\qwen-ls.EXE',
    );
    assert.equal(found, 'C:\\Py\\Scripts\\qwen-ls.EXE');
  });
});

describe('the real probe', { skip: process.platform === 'win32' && 'uses POSIX scripts' }, () => {
  function script(dir: string, name: string, body: string, mode = 0o755): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode });
    return file;
  }

  it('checks that the file is executable', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwen-ls-probe-'));
    try {
      assert.equal(isExecutableFile(script(dir, 'yes', 'exit 0')), true);
      assert.equal(isExecutableFile(script(dir, 'no', 'exit 0', 0o644)), false);
      assert.equal(isExecutableFile(dir), false);
      assert.equal(isExecutableFile(path.join(dir, 'missing')), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('asks the interpreter to import qwen_ls', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qwen-ls-probe-'));
    try {
      const args = path.join(dir, 'args');
      const good = script(dir, 'python-good', `echo "$@" > "${args}"; exit 0`);
      const bad = script(dir, 'python-bad', 'exit 1');
      assert.equal(await hasServerModule(good), true);
      assert.equal(fs.readFileSync(args, 'utf8').trim(), '-c import qwen_ls');
      assert.equal(await hasServerModule(bad), false);
      assert.equal(await hasServerModule(path.join(dir, 'missing')), false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
