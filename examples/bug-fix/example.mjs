// The bug fix: an ephemeral session, one sandbox for one task. The script uploads a small project whose tests fail
// into the new session's workspace (the files route), asks the agent to fix it, and follows the stream until the
// session ends with its task. The sandbox is then gone; what the session was told to keep (`berth.lifecycle.keep`:
// the fixed sources and the agent's FIX.md) is still downloadable, read-only, through the same files route.
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prompt } from '../lib/start.mjs';

const PROJECT = fileURLToPath(new URL('./project', import.meta.url));

const SYSTEM =
  'You are a careful software engineer working in /workspace. Reproduce a bug with the tests before changing code, ' +
  'make the smallest fix, re-run the tests, and write FIX.md (symptom, cause, change, verification).';

const TASK =
  'The tests of the project in /workspace fail. Run them with `node --test` in /workspace, find and fix the bug ' +
  'in src/ (do not change the tests), re-run the tests until they pass, then write /workspace/FIX.md.';

/** Every file of the project to upload, as workspace-relative paths. */
async function projectFiles(dir = PROJECT) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await projectFiles(p)));
    else out.push(relative(PROJECT, p));
  }
  return out.sort();
}

export async function run({ client, app, scripted, log }) {
  const berth = async (method, path, init = {}) => {
    const res = await fetch(app.url + path, {
      method,
      ...init,
      headers: { 'x-api-key': app.adminKey, ...init.headers },
    });
    return res;
  };
  const retrieve = (id) => client.beta.sessions.retrieve(id);

  const agent = await client.beta.agents.create({
    name: 'bug-fixer',
    model: 'claude-sonnet-4-5',
    system: SYSTEM,
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  // Ephemeral: the session ends when its turn ends (grace_s 0), and only `keep` survives the sandbox.
  const env = await client.beta.environments.create({
    name: 'bug-fix',
    config: { type: 'cloud' },
    berth: { lifecycle: { pattern: 'ephemeral', grace_s: 0, keep: ['src', 'FIX.md'] } },
  });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id, title: 'bug fix' });
  const sandboxId = session.berth.sandbox.id;
  log(`session ${session.id} (ephemeral, keeps src/ and FIX.md), sandbox ${sandboxId}`);

  // The sandbox starts with the session; its workspace takes uploads once it exists (409 + retry-after before).
  const uploaded = [];
  for (const path of await projectFiles()) {
    const body = await readFile(join(PROJECT, path));
    for (let attempt = 0; ; attempt++) {
      const res = await berth(
        'PUT',
        `/v1/berth/sessions/${session.id}/files/content?path=${encodeURIComponent(path)}`,
        {
          headers: { 'content-type': 'application/octet-stream' },
          body,
        },
      );
      if (res.ok) break;
      if (res.status !== 409 || attempt > 100) throw new Error(`upload ${path}: ${res.status} ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    uploaded.push(path);
  }
  log(`uploaded ${uploaded.join(', ')}`);

  // One message is the whole task; the stream ends with the session.
  const events = [];
  const stream = await client.beta.sessions.events.stream(session.id);
  await client.beta.sessions.events.send(session.id, {
    events: [{ type: 'user.message', content: [{ type: 'text', text: prompt(scripted, 'bug-fix', TASK) }] }],
  });
  const deadline = setTimeout(() => stream.controller.abort(), 300_000);
  try {
    for await (const e of stream) {
      events.push(e);
      if (e.type === 'agent.message') log(`agent: ${e.content.map((b) => b.text ?? '').join('')}`);
      if (e.type === 'agent.tool_use') log(`tool: ${e.name} ${JSON.stringify(e.input).slice(0, 100)}`);
      if (e.type === 'session.status_terminated') break;
    }
  } finally {
    clearTimeout(deadline);
  }
  // The session has ended with its task: no sandbox any more, only what it kept.
  let ended = await retrieve(session.id);
  for (let i = 0; i < 50 && ended.berth.state !== 'stopped'; i++) {
    await new Promise((r) => setTimeout(r, 200));
    ended = await retrieve(session.id);
  }
  log(`session ${ended.status}, berth.state ${ended.berth.state}, sandbox ${JSON.stringify(ended.berth.sandbox)}`);

  // `stopped` is reported as the session ends; its sandbox is destroyed right after. Once it is gone the files route
  // serves only the kept artifacts, so a path that was not kept (the tests) answers 404.
  const files = `/v1/berth/sessions/${session.id}/files`;
  let testsGone = 0;
  for (let i = 0; i < 100 && testsGone !== 404; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 200));
    testsGone = (await berth('GET', `${files}/content?path=test/cart.test.mjs`)).status;
  }
  const listing = await (await berth('GET', `${files}?recursive=true`)).json();
  log(`kept artifacts: ${listing.data.map((f) => f.path).join(', ')}`);
  const fixedRes = await berth('GET', `${files}/content?path=src/cart.mjs`);
  const fixed = await fixedRes.text();
  const report = await (await berth('GET', `${files}/content?path=FIX.md`)).text();
  const original = await readFile(join(PROJECT, 'src/cart.mjs'), 'utf8');
  const changed = diffLines(original, fixed);
  log(`src/cart.mjs, changed lines:\n${changed.map((c) => `- ${c.before}\n+ ${c.after}`).join('\n')}`);
  log(`FIX.md:\n${report}`);
  // Nothing can be written any more: the artifacts are read-only.
  const upload = await berth('PUT', `${files}/content?path=src/cart.mjs`, {
    headers: { 'content-type': 'application/octet-stream' },
    body: 'x',
  });

  await client.beta.sessions.delete(session.id);
  return {
    sessionId: session.id,
    sandboxId,
    uploaded,
    events,
    ended: { status: ended.status, state: ended.berth.state, sandbox: ended.berth.sandbox },
    listing: listing.data,
    fixed: { status: fixedRes.status, text: fixed },
    changed,
    report,
    testsGone,
    uploadAfterEnd: upload.status,
  };
}

/** Lines that differ between two versions of a file with the same number of lines (enough for a one-line fix). */
function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  if (x.length !== y.length) return [{ before: `(${x.length} lines)`, after: `(${y.length} lines)` }];
  return x.flatMap((line, i) => (line === y[i] ? [] : [{ line: i + 1, before: line, after: y[i] }]));
}
