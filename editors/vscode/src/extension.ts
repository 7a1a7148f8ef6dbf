/**
 * The VS Code side of the extension: starts qwen-ls, registers the commands,
 * keeps the status bar item current and hosts the chat view. Everything that can
 * be decided without VS Code lives in the modules it imports.
 */

import * as os from 'node:os';

import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification,
  ErrorCodes,
  type ExecuteCommandSignature,
  ResponseError,
  State,
  type LanguageClient,
} from 'vscode-languageclient/node';

import {
  authArgs,
  editArgs,
  editorContext,
  listModelsArgs,
  logoutArgs,
  parseChatArgs,
  parseEditArgs,
  selectModelArgs,
  statusArgs,
  type EditorContext,
} from './args';
import { ChatSession, type ChatTransport } from './chat';
import { ChatPanel } from './chatPanel';
import { createClient, RedactingChannel } from './client';
import { OWN_COMMAND_IDS, type OwnCommandId } from './commands';
import { describeError, type ErrorAdvice } from './errors';
import { modelPickItems } from './models';
import { nodeProbe } from './probe';
import {
  STATUS_NOTIFICATION,
  type AuthMethod,
  type AuthResult,
  type ChatResult,
  type EditArgs,
  type EditResult,
  type ModelInfo,
  type Range,
  type Scope,
  type SelectModelResult,
  type StatusNotification,
  type StatusResult,
} from './protocol';
import { onPythonChanged, selectedPython } from './python';
import { runCommand, runStreamed } from './rpc';
import { resolveServer, type ServerLaunch } from './serverPath';
import {
  API_KEY_SECRET,
  didChangeConfigurationParams,
  initializationOptions,
  PUSHED_SETTINGS,
  readSettings,
  RESTART_SETTINGS,
  SETTINGS_SECTION,
  type ExtensionSettings,
} from './settings';
import {
  formatStatusReport,
  parseStatusNotification,
  presentStatus,
  statusFor,
  type ClientState,
} from './status';
import { contextLabel } from './transcript';

const SIGN_IN_METHODS: readonly (vscode.QuickPickItem & { method: AuthMethod })[] = [
  {
    label: 'Qwen OAuth',
    detail: 'Sign in with your qwen.ai account in the browser.',
    method: 'qwen-oauth',
  },
  {
    label: 'API key',
    detail:
      'An OpenAI-compatible API key (Alibaba Cloud Model Studio / DashScope or another provider).',
    method: 'openai',
  },
  { label: 'Coding Plan', detail: 'An Alibaba Cloud Coding Plan API key.', method: 'coding-plan' },
];

let extension: QwenExtension | undefined;

export function activate(context: vscode.ExtensionContext): void {
  extension = new QwenExtension(context);
  void extension.restart();
}

export async function deactivate(): Promise<void> {
  await extension?.shutdown();
  extension = undefined;
}

interface EditorTarget {
  editor: vscode.TextEditor;
  uri: string;
  range: Range;
  label: string;
}

class QwenExtension {
  private client: LanguageClient | undefined;
  private launch: ServerLaunch | undefined;
  private state: ClientState = { kind: 'starting' };
  private readonly statuses = new Map<string | null, StatusNotification>();
  private apiKey: string | undefined;
  // Keys typed into the sign-in box, masked in the logs before they are stored.
  private readonly pendingSecrets = new Set<string>();
  private lastEditor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;
  // Starts and stops run one after another, never interleaved.
  private lifecycle: Promise<void> = Promise.resolve();

  private readonly output: vscode.OutputChannel;
  private readonly trace: vscode.OutputChannel;
  private readonly statusBar: vscode.StatusBarItem;
  private readonly chatPanel: ChatPanel;
  private readonly chat: ChatSession;

  constructor(private readonly context: vscode.ExtensionContext) {
    const secrets = (): string[] => [...this.pendingSecrets, ...(this.apiKey ? [this.apiKey] : [])];
    this.output = new RedactingChannel(
      vscode.window.createOutputChannel('Qwen Code (qwen-ls)'),
      secrets,
    );
    this.trace = new RedactingChannel(
      vscode.window.createOutputChannel('Qwen Code (qwen-ls) Trace'),
      secrets,
    );
    this.statusBar = vscode.window.createStatusBarItem(
      'qwenLs.status',
      vscode.StatusBarAlignment.Right,
      100,
    );
    this.statusBar.name = 'Qwen';

    this.chatPanel = new ChatPanel(context.extensionUri, {
      ask: (prompt) => void this.askInChat(prompt, {}),
      stop: () => this.chat.stop(),
      newChat: () => this.chat.newChat(),
      transcript: () => this.chat.transcript,
      busy: () => this.chat.busy,
    });
    // Chat errors show in the chat; a notification only where it offers the fix.
    this.chat = new ChatSession(this.chatTransport(), this.chatPanel, (advice) => {
      if (advice.action !== undefined) {
        void this.showAdvice(advice);
      }
    });

    context.subscriptions.push(this.output, this.trace, this.statusBar, this.chatPanel);
    this.registerCommands();
    this.watchEditorsAndSettings();
    this.refreshStatusBar();
  }

  // Server lifecycle

  /** (Re)starts the server after whatever start or stop is under way. */
  restart(): Promise<void> {
    this.lifecycle = this.lifecycle.then(async () => {
      await this.stopServer();
      await this.start();
    });
    return this.lifecycle;
  }

  shutdown(): Promise<void> {
    this.lifecycle = this.lifecycle.then(() => this.stopServer());
    return this.lifecycle;
  }

  private async start(): Promise<void> {
    this.setState({ kind: 'starting' });
    this.apiKey = await this.context.secrets.get(API_KEY_SECRET);
    const settings = this.settings();
    const python =
      settings.serverPath === '' ? await selectedPython(this.documentUri()) : undefined;
    const resolution = await resolveServer(
      { serverPath: settings.serverPath, python, logLevel: settings.logLevel, home: os.homedir() },
      nodeProbe,
    );
    if (!resolution.ok) {
      this.output.appendLine(resolution.message);
      this.setState({ kind: 'missing', message: resolution.message });
      void this.offerInstall(resolution.message, resolution.installCommand);
      return;
    }

    const launch = resolution.launch;
    this.output.appendLine(
      `Starting ${[launch.command, ...launch.args].join(' ')} (from ${launch.source})`,
    );
    const client = createClient({
      launch,
      outputChannel: this.output,
      traceChannel: this.trace,
      initializationOptions: () => initializationOptions(this.settings(), this.apiKey),
      middleware: {
        executeCommand: (command, args, next) => this.onServerCommand(command, args, next),
      },
    });
    client.onNotification(STATUS_NOTIFICATION, (raw: unknown) => this.onStatus(raw));
    client.onDidChangeState((event) => {
      if (this.client === client) {
        this.onClientState(event.newState);
      }
    });
    this.client = client;
    this.launch = launch;

    try {
      await client.start();
    } catch (err) {
      if (this.client === client) {
        const reason = `qwen-ls could not start: ${err instanceof Error ? err.message : String(err)}`;
        this.setState({ kind: 'stopped', reason });
        void this.showAdvice({
          cancelled: false,
          message: reason,
          action: { title: 'Show Server Log', command: 'qwen.showOutput' },
        });
      }
    }
  }

  private async stopServer(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.launch = undefined;
    this.statuses.clear();
    if (client !== undefined) {
      try {
        await client.dispose();
      } catch (err) {
        this.output.appendLine(`Stopping qwen-ls failed: ${String(err)}`);
      }
    }
  }

  private onClientState(state: State): void {
    switch (state) {
      case State.Running:
        this.setState({ kind: 'running' });
        break;
      case State.Starting:
        this.setState({ kind: 'starting' });
        break;
      case State.Stopped:
        this.statuses.clear();
        this.setState({
          kind: 'stopped',
          reason: 'qwen-ls stopped. Its log is in the "Qwen Code (qwen-ls)" output.',
        });
        break;
    }
  }

  private setState(state: ClientState): void {
    this.state = state;
    this.refreshStatusBar();
  }

  private onStatus(raw: unknown): void {
    const status = parseStatusNotification(raw);
    if (status !== undefined) {
      this.statuses.set(status.workspaceFolder, status);
      this.refreshStatusBar();
    }
  }

  private refreshStatusBar(): void {
    const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString());
    const status = statusFor(this.statuses, folders, this.documentUri()?.toString());
    const shown = presentStatus(this.state, status);
    this.statusBar.text = shown.text;
    this.statusBar.tooltip = shown.tooltip;
    this.statusBar.command = shown.command;
    this.statusBar.backgroundColor =
      shown.severity === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : shown.severity === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
    this.statusBar.show();
  }

  private settings(): ExtensionSettings {
    const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
    return readSettings((key) => config.get(key));
  }

  private pushConfiguration(): void {
    const client = this.client;
    if (client?.isRunning()) {
      client
        .sendNotification(
          DidChangeConfigurationNotification.type,
          didChangeConfigurationParams(this.settings(), this.apiKey),
        )
        .catch((err: unknown) => this.output.appendLine(`Sending settings failed: ${String(err)}`));
    }
  }

  private watchEditorsAndSettings(): void {
    const restartsWithPython = (): boolean =>
      this.launch === undefined || this.launch.source !== 'setting';
    this.context.subscriptions.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (editor !== undefined) {
          this.lastEditor = editor;
        }
        this.refreshStatusBar();
      }),
      vscode.workspace.onDidChangeWorkspaceFolders((event) => {
        for (const removed of event.removed) {
          this.statuses.delete(removed.uri.toString());
        }
        this.refreshStatusBar();
      }),
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (
          RESTART_SETTINGS.some((s) => event.affectsConfiguration(s)) ||
          (event.affectsConfiguration('python.defaultInterpreterPath') && restartsWithPython())
        ) {
          void this.restart();
        } else if (PUSHED_SETTINGS.some((s) => event.affectsConfiguration(s))) {
          this.pushConfiguration();
        }
      }),
      this.context.secrets.onDidChange(async (event) => {
        if (event.key !== API_KEY_SECRET) {
          return;
        }
        const stored = await this.context.secrets.get(API_KEY_SECRET);
        if (stored !== this.apiKey) {
          this.apiKey = stored;
          this.pushConfiguration();
        }
      }),
    );
    void onPythonChanged(() => {
      if (restartsWithPython()) {
        void this.restart();
      }
    }).then((disposable) => disposable && this.context.subscriptions.push(disposable));
  }

  // Commands

  private registerCommands(): void {
    const handlers: Record<OwnCommandId, () => Promise<void>> = {
      'qwen.openChat': () => this.openChat(),
      'qwen.explainSelection': () => this.explainSelection(),
      'qwen.editSelection': () => this.editSelection(),
      'qwen.signIn': () => this.signIn(),
      'qwen.signOut': () => this.signOut(),
      'qwen.pickModel': () => this.pickModel(),
      'qwen.showStatus': () => this.showStatus(),
      'qwen.restartServer': () => this.restart(),
      'qwen.showOutput': () => {
        this.output.show(true);
        return Promise.resolve();
      },
    };
    for (const id of OWN_COMMAND_IDS) {
      this.context.subscriptions.push(
        vscode.commands.registerCommand(id, () =>
          handlers[id]().catch((err: unknown) => this.showAdvice(describeError(err))),
        ),
      );
    }
  }

  private async openChat(): Promise<void> {
    const target = this.editorTarget(false);
    const prompt = await vscode.window.showInputBox({
      title: 'Ask Qwen',
      prompt: target ? `About ${target.label}` : undefined,
      placeHolder: 'Your question',
      ignoreFocusOut: true,
    });
    if (prompt === undefined || prompt.trim() === '') {
      return;
    }
    this.chatPanel.show();
    const context = target ? editorContext(target.uri, target.range) : { uri: this.folderUri() };
    await this.askInChat(prompt, context, target?.label);
  }

  private async explainSelection(): Promise<void> {
    const target = this.editorTarget(true);
    if (target === undefined) {
      void vscode.window.showInformationMessage(
        'Qwen: open a file and select the code to explain.',
      );
      return;
    }
    this.chatPanel.show();
    await this.askInChat(
      'Explain this code.',
      { uri: target.uri, range: target.range },
      target.label,
      true,
    );
  }

  private async askInChat(
    prompt: string,
    context: EditorContext,
    label?: string,
    newSession = false,
  ): Promise<void> {
    if (this.chat.busy) {
      void vscode.window.showInformationMessage(
        'Qwen is still answering. Press Stop in the chat first.',
      );
      return;
    }
    await this.chat.ask(prompt, {
      ...context,
      fallbackUri: this.folderUri(),
      context: label,
      newSession,
    });
  }

  private async editSelection(): Promise<void> {
    const target = this.editorTarget(true);
    if (target === undefined) {
      void vscode.window.showInformationMessage('Qwen: open a file and select the code to edit.');
      return;
    }
    const instruction = await vscode.window.showInputBox({
      title: `Edit ${target.label} with Qwen`,
      placeHolder: 'What should change, for example "add type hints"',
      ignoreFocusOut: true,
    });
    if (instruction === undefined || instruction.trim() === '') {
      return;
    }

    await this.runEdit(
      editArgs({ uri: target.uri, range: target.range, instruction }),
      target.label,
      target.editor.document.languageId,
    );
  }

  private async runEdit(args: EditArgs, label: string, languageId?: string): Promise<void> {
    // Without a token of ours, the server creates the progress and the client shows it.
    const result = await runCommand<EditResult>(this.requireClient(), 'qwen.edit', args);
    if (result.applied) {
      vscode.window.setStatusBarMessage(`Qwen edited ${label}`, 5000);
      return;
    }
    const show = 'Show Proposed Text';
    const choice = await vscode.window.showWarningMessage(
      `Qwen did not apply the edit: ${result.reason ?? 'the document changed meanwhile'}.`,
      show,
    );
    if (choice === show) {
      const doc = await vscode.workspace.openTextDocument({
        content: result.text,
        language: languageId,
      });
      await vscode.window.showTextDocument(doc, vscode.ViewColumn.Beside);
    }
  }

  /**
   * The server's code actions run `qwen.chat` and `qwen.edit` through the client,
   * which would drop the answer; show it in the chat, or report the edit, instead.
   */
  private async onServerCommand(
    command: string,
    args: unknown[],
    next: ExecuteCommandSignature,
  ): Promise<unknown> {
    const chat = command === 'qwen.chat' ? parseChatArgs(args[0]) : undefined;
    if (chat !== undefined) {
      this.chatPanel.show();
      const label = chat.uri
        ? contextLabel(vscode.Uri.parse(chat.uri).fsPath, chat.range)
        : undefined;
      await this.askInChat(chat.prompt, { uri: chat.uri, range: chat.range }, label, true);
      return undefined;
    }
    const edit = command === 'qwen.edit' ? parseEditArgs(args[0]) : undefined;
    if (edit !== undefined) {
      const uri = vscode.Uri.parse(edit.uri);
      const languageId = vscode.workspace.textDocuments.find(
        (d) => d.uri.toString() === edit.uri,
      )?.languageId;
      await this.runEdit(edit, contextLabel(uri.fsPath, edit.range), languageId).catch(
        (err: unknown) => this.showAdvice(describeError(err)),
      );
      return undefined;
    }
    return next(command, args);
  }

  private async signIn(): Promise<void> {
    const picked = await vscode.window.showQuickPick(SIGN_IN_METHODS, {
      title: 'Qwen: Sign In',
      placeHolder: 'How do you want to sign in?',
    });
    if (picked === undefined) {
      return;
    }
    const scope = await this.pickScope('Sign in for');
    if (scope === undefined) {
      return;
    }
    const method = picked.method;
    if (method === 'qwen-oauth') {
      const result = await runCommand<AuthResult>(
        this.requireClient(),
        'qwen.auth',
        authArgs({ method, uri: this.folderUri(), scope }),
      );
      this.reportSignIn(result);
      return;
    }

    const apiKey = await vscode.window.showInputBox({
      title: `Qwen: ${picked.label}`,
      prompt: "The key is kept in VS Code's secret storage, not in a settings file.",
      placeHolder: 'API key',
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) => (value.trim() === '' ? 'Enter the API key.' : undefined),
    });
    if (apiKey === undefined) {
      return;
    }
    let baseUrl: string | undefined;
    if (method === 'openai') {
      baseUrl = await vscode.window.showInputBox({
        title: 'Qwen: Base URL',
        prompt: 'The OpenAI-compatible endpoint. Leave empty for the default.',
        value: this.settings().openaiBaseUrl,
        placeHolder: 'https://dashscope.aliyuncs.com/compatible-mode/v1',
        ignoreFocusOut: true,
      });
      if (baseUrl === undefined) {
        return;
      }
    }
    await this.signInWithKey(method, apiKey.trim(), baseUrl, scope);
  }

  private async signInWithKey(
    method: AuthMethod,
    apiKey: string,
    baseUrl: string | undefined,
    scope: Scope,
  ): Promise<void> {
    const client = this.requireClient();
    const previous = this.apiKey;
    this.pendingSecrets.add(apiKey);
    try {
      await this.context.secrets.store(API_KEY_SECRET, apiKey);
      this.apiKey = apiKey;
      this.pushConfiguration();
      const result = await runCommand<AuthResult>(
        client,
        'qwen.auth',
        authArgs({ method, apiKey, baseUrl, uri: this.folderUri(), scope }),
      );
      this.reportSignIn(result);
    } catch (err) {
      // The server refused the key: keep the one that worked before.
      await (previous === undefined
        ? this.context.secrets.delete(API_KEY_SECRET)
        : this.context.secrets.store(API_KEY_SECRET, previous));
      this.apiKey = previous;
      this.pushConfiguration();
      throw err;
    } finally {
      this.pendingSecrets.delete(apiKey);
    }
  }

  private reportSignIn(result: AuthResult): void {
    if (result.signedIn) {
      void vscode.window.showInformationMessage(
        `Qwen: signed in (${result.authType}), model ${result.model ?? 'not set'}.`,
      );
    } else {
      void this.showAdvice({
        cancelled: false,
        message: 'Qwen: sign-in did not complete.',
        action: { title: 'Show Status', command: 'qwen.showStatus' },
      });
    }
  }

  private async signOut(): Promise<void> {
    const scope = await this.pickScope('Sign out of');
    if (scope === undefined) {
      return;
    }
    try {
      await runCommand(
        this.requireClient(),
        'qwen.logout',
        logoutArgs({ uri: this.folderUri(), scope }),
      );
    } finally {
      await this.context.secrets.delete(API_KEY_SECRET);
      this.apiKey = undefined;
      this.pushConfiguration();
    }
    void vscode.window.showInformationMessage('Qwen: signed out.');
  }

  private async pickModel(): Promise<void> {
    const client = this.requireClient();
    const uri = this.folderUri();
    const [models, status] = await Promise.all([
      runCommand<ModelInfo[]>(client, 'qwen.listModels', listModelsArgs(uri)),
      runCommand<StatusResult>(client, 'qwen.status', statusArgs(uri)).catch(() => undefined),
    ]);
    if (models.length === 0) {
      await this.showAdvice({
        cancelled: false,
        message: 'Qwen: no models are available. Sign in first.',
        action: { title: 'Sign In', command: 'qwen.signIn' },
      });
      return;
    }
    const picked = await vscode.window.showQuickPick(modelPickItems(models, status?.model), {
      title: 'Qwen: Select Model',
      placeHolder: status?.model ? `Current: ${status.model}` : 'Choose a model',
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (picked === undefined) {
      return;
    }
    const result = await runCommand<SelectModelResult>(
      client,
      'qwen.selectModel',
      selectModelArgs({ model: picked.model, uri }),
    );
    await this.keepModelSettingInStep(result.model);
    void vscode.window.showInformationMessage(`Qwen: using ${result.model}.`);
  }

  /** The `qwenLs.model` setting outranks the server's stored choice, so it follows the pick. */
  private async keepModelSettingInStep(model: string): Promise<void> {
    const config = vscode.workspace.getConfiguration(SETTINGS_SECTION);
    const inspected = config.inspect<string>('model');
    if (!this.settings().model || this.settings().model === model || inspected === undefined) {
      return;
    }
    const target =
      inspected.workspaceFolderValue !== undefined
        ? vscode.ConfigurationTarget.WorkspaceFolder
        : inspected.workspaceValue !== undefined
          ? vscode.ConfigurationTarget.Workspace
          : vscode.ConfigurationTarget.Global;
    const resource =
      target === vscode.ConfigurationTarget.WorkspaceFolder ? this.documentUri() : undefined;
    await vscode.workspace
      .getConfiguration(SETTINGS_SECTION, resource)
      .update('model', model, target);
  }

  private async showStatus(): Promise<void> {
    const result = await runCommand<StatusResult>(
      this.requireClient(),
      'qwen.status',
      statusArgs(this.folderUri()),
    );
    const { summary, detail } = formatStatusReport(result);
    const signIn = 'Sign In';
    const model = 'Select Model';
    const choice = await vscode.window.showInformationMessage(
      summary,
      { modal: true, detail },
      ...(result.signedIn ? [model] : [signIn]),
    );
    if (choice === signIn) {
      await this.signIn();
    } else if (choice === model) {
      await this.pickModel();
    }
  }

  // Helpers

  private chatTransport(): ChatTransport {
    return {
      chat: (args, handlers) => {
        const client = this.client;
        if (client === undefined) {
          return { result: Promise.reject(this.notRunningError()), stop: () => undefined };
        }
        return runStreamed<ChatResult>(client, { command: 'qwen.chat', args }, handlers);
      },
    };
  }

  private requireClient(): LanguageClient {
    if (this.client === undefined) {
      throw this.notRunningError();
    }
    return this.client;
  }

  private notRunningError(): ResponseError {
    const message = this.state.kind === 'missing' ? this.state.message : 'the server is stopped';
    return new ResponseError(ErrorCodes.ConnectionInactive, message);
  }

  private async pickScope(verb: string): Promise<Scope | undefined> {
    const folder = this.lastEditor
      ? vscode.workspace.getWorkspaceFolder(this.lastEditor.document.uri)
      : undefined;
    const workspaceFolder = folder ?? vscode.workspace.workspaceFolders?.[0];
    if (workspaceFolder === undefined) {
      return 'user';
    }
    const picked = await vscode.window.showQuickPick(
      [
        {
          label: `This workspace folder`,
          description: workspaceFolder.name,
          scope: 'workspace' as const,
        },
        { label: 'All workspaces', description: 'user settings', scope: 'user' as const },
      ],
      { title: `Qwen: ${verb}…` },
    );
    return picked?.scope;
  }

  private async offerInstall(message: string, installCommand: string): Promise<void> {
    const install = 'Install in Terminal';
    const settings = 'Open Settings';
    const choice = await vscode.window.showErrorMessage(message, install, settings);
    if (choice === install) {
      const terminal = vscode.window.createTerminal('Install qwen-ls');
      terminal.show();
      terminal.sendText(installCommand, true);
      void vscode.window.showInformationMessage(
        'When the installation has finished, click the Qwen item in the status bar to start the server.',
      );
    } else if (choice === settings) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'qwenLs.serverPath');
    }
  }

  private async showAdvice(advice: ErrorAdvice): Promise<void> {
    if (advice.cancelled) {
      return;
    }
    const action = advice.action;
    const choice = await (action
      ? vscode.window.showErrorMessage(advice.message, action.title)
      : vscode.window.showErrorMessage(advice.message));
    if (action !== undefined && choice === action.title) {
      await vscode.commands.executeCommand(action.command);
    }
  }

  /** The document the user works in; also while the chat view has the focus. */
  private documentUri(): vscode.Uri | undefined {
    return (vscode.window.activeTextEditor ?? this.lastEditor)?.document.uri;
  }

  /** The URI that picks the workspace folder of a command. */
  private folderUri(): string | undefined {
    return (this.documentUri() ?? vscode.workspace.workspaceFolders?.[0]?.uri)?.toString();
  }

  /** The active editor's selection, or with `wholeLine` its current line when nothing is selected. */
  private editorTarget(wholeLine: boolean): EditorTarget | undefined {
    const editor = vscode.window.activeTextEditor ?? this.lastEditor;
    if (editor === undefined || editor.document.isClosed) {
      return undefined;
    }
    let selection: vscode.Range = editor.selection;
    if (selection.isEmpty && wholeLine) {
      selection = editor.document.lineAt(editor.selection.active.line).range;
    }
    const range: Range = {
      start: { line: selection.start.line, character: selection.start.character },
      end: { line: selection.end.line, character: selection.end.character },
    };
    const uri = editor.document.uri.toString();
    const label = contextLabel(editor.document.fileName, selection.isEmpty ? undefined : range);
    return { editor, uri, range, label };
  }
}
