// Regenerates src/mapper/fixtures/*.jsonl: real SDK message streams from the real Claude CLI against the
// scripted model, with the runner's own query options. Each fixture also records, as marker lines
// ({"berth":"user_message","uuid":…} / {"berth":"interrupt"}), when a user message was fed or an interrupt asked.
// Usage (after `npx tsc -b packages/runner packages/scripted-model`): node scripts/capture-fixtures.mjs
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { query } from '@anthropic-ai/claude-agent-sdk';
import { startScriptedModel } from '@berth/scripted-model';
import { buildQueryOptions, PushQueue } from '../dist/index.js';

const out = new URL('../src/mapper/fixtures/', import.meta.url);
const root = mkdtempSync(join(tmpdir(), 'berth-fixtures-'));
const ws = '/tmp/berth-fixture-ws'; // fixed, so fixtures do not change with every capture
mkdirSync(ws, { recursive: true });
const TOKEN = 'gw-fixture-token-0123456789';
const usage = (i, o, c = 0, r = 0) => ({
  input_tokens: i,
  output_tokens: o,
  cache_creation_input_tokens: c,
  cache_read_input_tokens: r,
});
const err = (status, type) => ({ error: { status, type, message: `scripted ${status}` } });

const scenarios = [
  {
    name: 'fx-tool-turn',
    turns: [
      {
        content: [
          { type: 'thinking', thinking: 'Plan: write, then check.' },
          { type: 'text', text: 'Writing it.' },
          { type: 'tool_use', name: 'Write', input: { file_path: `${ws}/hello.txt`, content: 'hi\n' } },
        ],
        usage: usage(120, 30, 5, 7),
      },
      {
        content: [{ type: 'tool_use', name: 'Bash', input: { command: `cat ${ws}/hello.txt` } }],
        usage: usage(200, 20, 0, 100),
      },
      { content: [{ type: 'text', text: 'Done.' }], usage: usage(260, 4, 1, 2) },
    ],
  },
  {
    name: 'fx-long-tool',
    turns: [
      {
        content: [
          { type: 'text', text: 'Running.' },
          { type: 'tool_use', name: 'Bash', input: { command: 'node -e "setInterval(()=>{},1000)"' } },
        ],
        usage: usage(10, 10),
      },
      { content: [{ type: 'text', text: 'Stopped.' }], usage: usage(10, 2) },
    ],
  },
  {
    name: 'fx-loop',
    turns: [{ content: [{ type: 'tool_use', name: 'Bash', input: { command: 'echo again' } }], usage: usage(50, 5) }],
    after: 'repeat-last',
  },
  { name: 'fx-529', turns: [err(529, 'overloaded_error')], after: 'repeat-last' },
  { name: 'fx-429', turns: [err(429, 'rate_limit_error')], after: 'repeat-last' },
  { name: 'fx-401', turns: [err(401, 'authentication_error')], after: 'repeat-last' },
];

/** Each capture's `script` drives the session through `send`/`interrupt` and resolves when done. */
const captures = {
  'tool-turn': {
    maxTurns: 10,
    script: async (s) => {
      s.send('[scenario:fx-tool-turn] go');
      await s.results(1);
      s.send('and now?');
      await s.results(2);
    },
  },
  'interrupt-long-tool': {
    maxTurns: 10,
    script: async (s) => {
      s.send('[scenario:fx-long-tool] go');
      await s.until((m) => m.type === 'assistant' && m.message.content[0]?.type === 'tool_use');
      await new Promise((r) => setTimeout(r, 800));
      await s.interrupt();
      await s.results(1);
      s.send('continue');
      await s.results(2);
    },
  },
  'max-turns': {
    maxTurns: 2,
    script: async (s) => {
      s.send('[scenario:fx-loop] go');
      await s.results(1);
    },
  },
  'api-error-529': {
    maxTurns: 10,
    retries: '1',
    script: async (s) => {
      s.send('[scenario:fx-529] go');
      await s.results(1);
    },
  },
  'api-error-429': {
    maxTurns: 10,
    retries: '1',
    script: async (s) => {
      s.send('[scenario:fx-429] go');
      await s.results(1);
    },
  },
  'api-error-401': {
    maxTurns: 10,
    retries: '1',
    script: async (s) => {
      s.send('[scenario:fx-401] go');
      await s.results(1);
    },
  },
};

/** Runs one capture and returns its lines (SDK messages and markers, in order). */
async function capture(cap) {
  const lines = [];
  const waiters = [];
  const input = new PushQueue();
  const id = randomUUID();
  const q = query({
    prompt: input,
    options: {
      ...buildQueryOptions({
        sessionId: 'sesn_01J00000000000000000000000',
        path: process.env.PATH,
        resume: false,
        tmpDir: join(root, 'tmp'),
        baseUrl: model.url,
        abortController: new AbortController(),
        spawnClaudeCodeProcess: () => {
          throw new Error('replaced below');
        },
        config: {
          model: 'claude-sonnet-4-5',
          system: 'You are a test agent.',
          max_turns: cap.maxTurns,
          cwd: ws,
          home: join(root, 'home'),
          config_dir: join(root, 'cfg', id),
          gateway_token: TOKEN,
          sdk_session_id: id,
          resume: false,
          allowed_tools: [],
          disallowed_tools: [],
          env: { IS_SANDBOX: '1', CLAUDE_CODE_MAX_RETRIES: cap.retries ?? '0' },
        },
      }),
      spawnClaudeCodeProcess: undefined, // the SDK's own spawn: the messages are the same
    },
  });
  const s = {
    send(text) {
      const uuid = randomUUID();
      lines.push({ berth: 'user_message', uuid });
      input.push({
        type: 'user',
        message: { role: 'user', content: [{ type: 'text', text }] },
        parent_tool_use_id: null,
        uuid,
      });
    },
    async interrupt() {
      lines.push({ berth: 'interrupt' });
      await q.interrupt();
    },
    until: (pred) => new Promise((r) => waiters.push({ pred, r })),
    results: (n) => s.until(() => lines.filter((l) => l.type === 'result').length >= n),
  };
  const reading = (async () => {
    for await (const m of q) {
      lines.push(m);
      for (const w of [...waiters]) if (w.pred(m)) waiters.splice(waiters.indexOf(w), 1) && w.r();
    }
  })().catch(() => {});
  await cap.script(s);
  q.close();
  await reading;
  return lines;
}

const model = await startScriptedModel({ scenarios, apiKey: TOKEN });
try {
  for (const [name, cap] of Object.entries(captures)) {
    const lines = await capture(cap);
    const text = lines.map((l) => {
      // Keep fixtures readable: the init message's long lists are trimmed to their first entries.
      if (l.type === 'system' && l.subtype === 'init')
        for (const k of Object.keys(l)) if (Array.isArray(l[k])) l[k] = l[k].slice(0, 3);
      return JSON.stringify(l);
    });
    writeFileSync(new URL(`${name}.jsonl`, out), text.join('\n') + '\n');
    console.log(`${name}: ${lines.length} lines`);
  }
} finally {
  await model.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(ws, { recursive: true, force: true });
}
