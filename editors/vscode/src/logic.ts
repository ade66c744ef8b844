// The extension's own logic, kept free of the vscode module so node's test runner can check it:
// settings -> initializationOptions, the status bar text, the growing Explain markdown, and which
// binary to start.
import * as fs from 'fs';
import * as path from 'path';

export interface Settings {
  enable: boolean;
  serverPath: string;
  model: string;
  draftModel: string;
  explainModel: string;
  threads: number;
  contextSize: number;
  prefixTokens: number;
  suffixTokens: number;
  maxTokens: number;
  cacheMaxMB: number;
  languages: Record<string, boolean>;
}

export const DEFAULTS: Settings = {
  enable: true, serverPath: '', model: '', draftModel: '', explainModel: '', threads: 0,
  contextSize: 4096, prefixTokens: 1024, suffixTokens: 300, maxTokens: 128, cacheMaxMB: 64,
  languages: {},
};

// Reads settings through a getter (vscode's WorkspaceConfiguration.get in the extension, a plain
// object in tests), falling back to the defaults for missing or mistyped values.
export function readSettings(get: (key: string) => unknown): Settings {
  const out: Settings = { ...DEFAULTS, languages: {} };
  for (const key of Object.keys(DEFAULTS) as (keyof Settings)[]) {
    const v = get(key);
    const d = DEFAULTS[key];
    if (v === undefined || v === null || typeof v !== typeof d) continue;
    if (typeof d === 'number' && (!Number.isFinite(v as number) || (v as number) < 0)) continue;
    (out as unknown as Record<string, unknown>)[key] = v;
  }
  return out;
}

// What the daemon receives as initializationOptions and in workspace/didChangeConfiguration.
// Empty strings mean "daemon default" and are left out.
export function initOptions(s: Settings): Record<string, unknown> {
  const o: Record<string, unknown> = {
    enable: s.enable,
    threads: s.threads,
    contextSize: s.contextSize,
    budgets: { prefixTokens: s.prefixTokens, suffixTokens: s.suffixTokens, maxTokens: s.maxTokens },
    cache: { maxBytes: s.cacheMaxMB * 1024 * 1024, enable: s.cacheMaxMB > 0 },
    languages: { ...s.languages },
  };
  const models: Record<string, string> = {};
  if (s.model) models.completion = s.model;
  if (s.draftModel) models.completionDraft = s.draftModel;
  if (s.explainModel) models.explain = s.explainModel;
  o.models = models;
  return o;
}

export function languageEnabled(s: Settings, languageId: string): boolean {
  if (!s.enable) return false;
  const v = s.languages[languageId];
  return v === undefined ? true : !!v;
}

// The daemon's seekd/status notification.
export interface Status {
  state?: 'loading' | 'ready' | 'error' | 'idle';
  progress?: number;       // 0..100 while loading
  message?: string;
  lastLatencyMs?: number;
  cacheHits?: number;
  requests?: number;
}

export function statusText(enabled: boolean, st: Status): string {
  if (!enabled) return '$(circle-slash) seekd';
  switch (st.state) {
    case 'loading':
      return `$(sync~spin) seekd ${Math.max(0, Math.min(100, Math.round(st.progress ?? 0)))}%`;
    case 'error':
      return '$(error) seekd';
    default: {
      const parts = ['$(sparkle) seekd'];
      if (st.lastLatencyMs !== undefined) parts.push(`${Math.round(st.lastLatencyMs)} ms`);
      if (st.cacheHits !== undefined && st.requests) parts.push(`cache ${st.cacheHits}/${st.requests}`);
      return parts.join(' ');
    }
  }
}

// Explain streams through $/progress reports whose message is the Markdown so far.  Reports can
// arrive after the final answer; keep the longest text seen for the current request.
export class ExplainBuffer {
  private text = '';
  private done = false;
  report(message: string | undefined): boolean {
    if (this.done || message === undefined || message.length < this.text.length) return false;
    if (message === this.text) return false;
    this.text = message;
    return true;
  }
  finish(markdown: string | undefined): string {
    if (markdown !== undefined && markdown.length >= this.text.length) this.text = markdown;
    this.done = true;
    return this.text;
  }
  get value(): string { return this.text; }
}

// Which seekd to start: the setting, else a binary bundled in the extension's bin/, else PATH.
export function serverCommand(s: Settings, extensionDir: string,
                              exists: (p: string) => boolean = fs.existsSync): string {
  if (s.serverPath) return s.serverPath;
  const bundled = path.join(extensionDir, 'bin', 'seekd');
  return exists(bundled) ? bundled : 'seekd';
}
