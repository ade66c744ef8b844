// seekd for VS Code: starts `seekd lsp` and lets vscode-languageclient wire the LSP 3.18
// inline-completion provider into the editor (no completion engine in the extension).  Adds
// settings, an on/off toggle, a status bar item and "Explain selection".
import * as vscode from 'vscode';
import {
  LanguageClient, LanguageClientOptions, ServerOptions, TransportKind, WorkDoneProgress,
} from 'vscode-languageclient/node';
import {
  ExplainBuffer, initOptions, languageEnabled, readSettings, Settings, Status, serverCommand,
  statusText,
} from './logic';

const LANGUAGES = ['c', 'cpp', 'python', 'javascript', 'javascriptreact', 'typescript',
  'typescriptreact', 'go', 'rust', 'java', 'shellscript', 'json'];

let client: LanguageClient | undefined;
let status: vscode.StatusBarItem;
let lastStatus: Status = { state: 'idle' };
let settings: Settings;

function loadSettings(): Settings {
  const cfg = vscode.workspace.getConfiguration('seekd');
  return readSettings((k) => cfg.get(k));
}

function refreshStatus(): void {
  status.text = statusText(settings.enable, lastStatus);
  status.tooltip = lastStatus.message ?? 'seekd: local code completion (click to toggle)';
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const command = serverCommand(settings, context.extensionPath);
  const serverOptions: ServerOptions = {
    run: { command, args: ['lsp'], transport: TransportKind.stdio },
    debug: { command, args: ['lsp', '--log-level', 'debug'], transport: TransportKind.stdio },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ language })),
    initializationOptions: initOptions(settings),
    middleware: {
      provideInlineCompletionItems: async (document, position, ctx, token, next) => {
        if (!languageEnabled(settings, document.languageId)) return null;
        const t0 = Date.now();
        const result = await next(document, position, ctx, token);
        const items = Array.isArray(result) ? result : result?.items;
        if (items && items.length > 0 && client) {
          lastStatus = { ...lastStatus, lastLatencyMs: Date.now() - t0 };
          refreshStatus();
          // The first item is what VS Code shows; tell the daemon (local statistics only).
          const item = items[0];
          // The daemon identifies the item by its command's arguments (seekd.accepted).
          const cmd = item.command;
          client.sendNotification('textDocument/didShowCompletion', {
            item: {
              insertText: typeof item.insertText === 'string' ? item.insertText : item.insertText.value,
              command: cmd ? { title: cmd.title, command: cmd.command, arguments: cmd.arguments } : undefined,
            },
          }).catch(() => undefined);
        }
        return result;
      },
    },
  };
  client = new LanguageClient('seekd', 'seekd', serverOptions, clientOptions);
  client.onNotification('seekd/status', (st: Status) => {
    lastStatus = { ...lastStatus, ...st };
    refreshStatus();
  });
  await client.start();
}

async function explainSelection(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !client) return;
  const sel = editor.selection.isEmpty
    ? editor.document.lineAt(editor.selection.active.line).range : editor.selection;
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: '_Explaining…_' });
  await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true, preserveFocus: true });
  const buf = new ExplainBuffer();
  const token = `seekd-explain-${Date.now()}`;
  const show = async (text: string) => {
    const edit = new vscode.WorkspaceEdit();
    edit.replace(doc.uri, new vscode.Range(0, 0, doc.lineCount, 0), text);
    await vscode.workspace.applyEdit(edit);
  };
  const sub = client.onProgress(WorkDoneProgress.type, token, (v) => {
    if (v.kind === 'report' && buf.report(v.message)) void show(buf.value);
  });
  try {
    const res = await client.sendRequest('workspace/executeCommand', {
      command: 'seekd.explain',
      arguments: [{
        textDocument: { uri: editor.document.uri.toString() },
        range: client.code2ProtocolConverter.asRange(sel),
      }],
      workDoneToken: token,
    }) as { markdown?: string } | null;
    await show(buf.finish(res?.markdown));
  } catch (e) {
    await show(`seekd: ${(e as Error).message}`);
  } finally {
    sub.dispose();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  settings = loadSettings();
  status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  status.command = 'seekd.toggle';
  refreshStatus();
  status.show();
  context.subscriptions.push(status);
  context.subscriptions.push(vscode.commands.registerCommand('seekd.toggle', async () => {
    await vscode.workspace.getConfiguration('seekd').update('enable', !settings.enable,
      vscode.ConfigurationTarget.Global);
  }));
  context.subscriptions.push(vscode.commands.registerCommand('seekd.explainSelection', explainSelection));
  context.subscriptions.push(vscode.commands.registerCommand('seekd.restart', async () => {
    await client?.stop();
    await start(context);
  }));
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration(async (e) => {
    if (!e.affectsConfiguration('seekd')) return;
    const old = settings;
    settings = loadSettings();
    refreshStatus();
    if (old.serverPath !== settings.serverPath) {
      await client?.stop();
      await start(context);
      return;
    }
    await client?.sendNotification('workspace/didChangeConfiguration', { settings: { seekd: initOptions(settings) } });
  }));
  await start(context);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
