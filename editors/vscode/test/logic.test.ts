// Unit tests of the extension's own logic (node --test).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  DEFAULTS, ExplainBuffer, initOptions, languageEnabled, readSettings, serverCommand, statusText,
} from '../src/logic';

test('settings fall back to defaults for missing or mistyped values', () => {
  const s = readSettings((k) => ({ threads: 'four', contextSize: -5, model: '/m.gguf', enable: false } as Record<string, unknown>)[k]);
  assert.equal(s.threads, DEFAULTS.threads);
  assert.equal(s.contextSize, DEFAULTS.contextSize);
  assert.equal(s.model, '/m.gguf');
  assert.equal(s.enable, false);
});

test('initialization options carry models, budgets and cache limits', () => {
  const s = readSettings((k) => ({ model: '/t.gguf', draftModel: '/d.gguf', cacheMaxMB: 0, suffixTokens: 50 } as Record<string, unknown>)[k]);
  const o = initOptions(s) as any;
  assert.deepEqual(o.models, { completion: '/t.gguf', completionDraft: '/d.gguf' });
  assert.equal(o.cache.enable, false);
  assert.equal(o.cache.maxBytes, 0);
  assert.equal(o.budgets.suffixTokens, 50);
  assert.equal(o.budgets.prefixTokens, DEFAULTS.prefixTokens);
  assert.deepEqual(initOptions(DEFAULTS).models, {});
});

test('per-language switches and the global toggle', () => {
  const s = readSettings((k) => ({ languages: { json: false } } as Record<string, unknown>)[k]);
  assert.equal(languageEnabled(s, 'json'), false);
  assert.equal(languageEnabled(s, 'python'), true);
  assert.equal(languageEnabled({ ...s, enable: false }, 'python'), false);
});

test('status bar text', () => {
  assert.equal(statusText(false, { state: 'ready' }), '$(circle-slash) seekd');
  assert.equal(statusText(true, { state: 'loading', progress: 41.6 }), '$(sync~spin) seekd 42%');
  assert.equal(statusText(true, { state: 'loading', progress: 140 }), '$(sync~spin) seekd 100%');
  assert.equal(statusText(true, { state: 'ready', lastLatencyMs: 123.4, cacheHits: 3, requests: 10 }), '$(sparkle) seekd 123 ms cache 3/10');
  assert.equal(statusText(true, { state: 'error' }), '$(error) seekd');
});

test('explain buffer keeps the growing markdown and ignores stale reports', () => {
  const b = new ExplainBuffer();
  assert.equal(b.report('This'), true);
  assert.equal(b.report('This function'), true);
  assert.equal(b.report('This'), false);          // out of order: shorter
  assert.equal(b.report('This function'), false); // unchanged
  assert.equal(b.finish('This function adds.'), 'This function adds.');
  assert.equal(b.report('This function adds. More'), false); // after the end
  const c = new ExplainBuffer();
  c.report('partial text');
  assert.equal(c.finish(undefined), 'partial text');
});

test('server command: setting, then bundled binary, then PATH', () => {
  assert.equal(serverCommand({ ...DEFAULTS, serverPath: '/opt/seekd' }, '/ext'), '/opt/seekd');
  assert.equal(serverCommand(DEFAULTS, '/ext', (p) => p === '/ext/bin/seekd'), '/ext/bin/seekd');
  assert.equal(serverCommand(DEFAULTS, '/ext', () => false), 'seekd');
});
