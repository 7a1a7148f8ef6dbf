/**
 * Checks that package.json, the command lists and the sources agree: every
 * contributed command is registered, no own command collides with the server's,
 * and server-commands.json (read by the Python tests) equals the constant.
 */

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { COMMAND_CATEGORY, OWN_COMMANDS, OWN_COMMAND_IDS } from '../src/commands';
import { PROTOCOL_VERSION, SERVER_COMMANDS } from '../src/serverCommands';

// Tests run from out/test; the package root is two levels up.
const ROOT = path.resolve(__dirname, '..', '..');

interface Contributed {
  command: string;
  title: string;
  category?: string;
}

interface PackageJson {
  main: string;
  engines: { vscode: string };
  dependencies: Record<string, string>;
  contributes: {
    commands: Contributed[];
    menus: Record<string, { command: string }[]>;
    configuration: { properties: Record<string, { default?: unknown }> };
  };
}

function read(file: string): string {
  return fs.readFileSync(path.join(ROOT, file), 'utf8');
}

const pkg = JSON.parse(read('package.json')) as PackageJson;
const contributed = pkg.contributes.commands.map((c) => c.command);

describe('commands', () => {
  it("every contributed command is one of ours or one of the server's", () => {
    const known = new Set<string>([...OWN_COMMAND_IDS, ...SERVER_COMMANDS]);
    assert.deepEqual(
      contributed.filter((c) => !known.has(c)),
      [],
    );
  });

  it('every own command is contributed, with its title, under the Qwen category', () => {
    assert.deepEqual(
      pkg.contributes.commands.map((c) => ({
        id: c.command,
        title: c.title,
        category: c.category,
      })),
      OWN_COMMANDS.map((c) => ({ id: c.id, title: c.title, category: COMMAND_CATEGORY })),
    );
  });

  it('no own command id is a server command id (vscode-languageclient registers those)', () => {
    const server = new Set<string>(SERVER_COMMANDS);
    assert.deepEqual(
      OWN_COMMAND_IDS.filter((id) => server.has(id)),
      [],
    );
    assert.ok(OWN_COMMAND_IDS.every((id) => id.startsWith('qwen.')));
    assert.equal(new Set(OWN_COMMAND_IDS).size, OWN_COMMAND_IDS.length);
  });

  it('extension.ts registers every own command through one handler table', () => {
    const source = read('src/extension.ts');
    assert.match(source, /const handlers: Record<OwnCommandId, \(\) => Promise<void>> = \{/);
    assert.match(source, /for \(const id of OWN_COMMAND_IDS\)/);
    assert.match(source, /vscode\.commands\.registerCommand\(id,/);
    for (const id of OWN_COMMAND_IDS) {
      assert.ok(source.includes(`'${id}': `), `no handler for ${id}`);
    }
  });

  it('menus name only contributed commands', () => {
    for (const [menu, entries] of Object.entries(pkg.contributes.menus)) {
      for (const entry of entries) {
        assert.ok(contributed.includes(entry.command), `${menu}: ${entry.command}`);
      }
    }
  });
});

describe('the server command list', () => {
  it("is the protocol's version 1 list", () => {
    assert.equal(PROTOCOL_VERSION, 1);
    assert.deepEqual(
      [...SERVER_COMMANDS],
      [
        'qwen.chat',
        'qwen.status',
        'qwen.auth',
        'qwen.logout',
        'qwen.listModels',
        'qwen.selectModel',
        'qwen.edit',
      ],
    );
  });

  it('server-commands.json holds the same list for the Python tests', () => {
    const json = JSON.parse(read('server-commands.json')) as unknown;
    assert.deepEqual(json, { protocolVersion: PROTOCOL_VERSION, commands: [...SERVER_COMMANDS] });
  });
});

describe('settings', () => {
  it('contributes every setting the extension reads, and the trace setting', () => {
    assert.deepEqual(Object.keys(pkg.contributes.configuration.properties).sort(), [
      'qwenLs.authType',
      'qwenLs.logLevel',
      'qwenLs.model',
      'qwenLs.openaiBaseUrl',
      'qwenLs.serverPath',
      'qwenLs.trace.server',
    ]);
  });

  it('no setting holds an API key', () => {
    for (const key of Object.keys(pkg.contributes.configuration.properties)) {
      assert.doesNotMatch(key, /key|token|secret/i);
    }
  });

  it('the trace setting matches the client id', () => {
    assert.match(read('src/client.ts'), /export const CLIENT_ID = 'qwenLs';/);
  });
});

describe('the package', () => {
  it('main points at the compiled extension', () => {
    assert.equal(pkg.main, './out/src/extension.js');
    assert.ok(fs.existsSync(path.join(ROOT, pkg.main)));
  });

  it("the chat view's files exist", () => {
    for (const file of ['media/chat.js', 'media/chat.css']) {
      assert.ok(fs.existsSync(path.join(ROOT, file)), file);
    }
  });

  it('uses vscode-languageclient 9 and the protocol package it brings', () => {
    assert.match(pkg.dependencies['vscode-languageclient'] ?? '', /^\^9\./);
    const client = JSON.parse(
      read('node_modules/vscode-languageclient/package.json'),
    ) as PackageJson;
    assert.equal(
      pkg.dependencies['vscode-languageserver-protocol'],
      client.dependencies['vscode-languageserver-protocol'],
    );
  });
});

describe('module boundaries', () => {
  // Only these modules may touch VS Code; the rest are tested here with plain Node.
  const VSCODE_MODULES = ['chatPanel.ts', 'client.ts', 'extension.ts', 'python.ts'];

  it('only the thin modules import vscode or vscode-languageclient', () => {
    const importing = fs
      .readdirSync(path.join(ROOT, 'src'))
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => /from '(vscode|vscode-languageclient[^']*)'/.test(read(`src/${f}`)))
      .sort();
    assert.deepEqual(importing, VSCODE_MODULES);
  });

  it('every other module loads without VS Code', () => {
    const pure = fs
      .readdirSync(path.join(ROOT, 'out', 'src'))
      .filter((f) => f.endsWith('.js') && !VSCODE_MODULES.includes(f.replace(/\.js$/, '.ts')));
    assert.ok(pure.length >= 10);
    for (const file of pure) {
      // A module that imports vscode fails to load here.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      assert.doesNotThrow(() => require(path.join(ROOT, 'out', 'src', file)) as unknown, file);
    }
  });
});
