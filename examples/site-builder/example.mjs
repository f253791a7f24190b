// Site builder (persistent pattern): the agent builds a page and serves it from a background process in its
// sandbox; Berth exposes the port through a preview URL with its own access token; an edit shows on reload.
import { request } from 'node:http';
import { prompt } from '../lib/start.mjs';

const PORT = 8000;

/**
 * Runs the example against a berthd started with previews on (`--preview-port`). Returns what it observed: the
 * preview, the page before and after the edit, and what a request without the token got.
 */
export async function run({ client, app, scripted, log }) {
  const agent = await client.beta.agents.create({
    name: 'site-builder',
    model: 'claude-sonnet-4-5',
    system: `You build small static websites. Serve them with a background process on port ${PORT} that keeps running after your turn ends (use node's http module, no packages).`,
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const environment = await client.post('/v1/environments', {
    body: { name: 'site-builder', config: { type: 'cloud' }, berth: { lifecycle: { pattern: 'persistent' } } },
  });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: environment.id });
  log(`session ${session.id}`);

  await turn(
    client,
    session.id,
    prompt(
      scripted,
      'site-builder',
      `Build a one-page site for a bakery called "Sourdough & Co." in /workspace/site/index.html and serve it on port ${PORT}.`,
    ),
    log,
  );

  // The preview: Berth checks that something listens on the port, then hands out the URL and a token (once).
  const preview = await berth(app, 'POST', `/v1/berth/sessions/${session.id}/previews`, { port: PORT });
  log(`preview ${preview.url} (open ${preview.access_url} in a browser: it sets a cookie for that host only)`);

  const anonymous = await get(preview.url, {});
  log(`without the token: ${anonymous.status}`);
  const before = await get(preview.url, { 'x-berth-preview-token': preview.token });
  log(`page: ${headline(before.body)}`);

  await turn(client, session.id, 'Change the headline to say that we are now open on Sundays.', log);
  const after = await get(preview.url, { 'x-berth-preview-token': preview.token });
  log(`page after the edit: ${headline(after.body)}`);

  await client.beta.sessions.delete(session.id);
  return {
    sessionId: session.id,
    preview: { id: preview.id, url: preview.url, port: preview.port },
    anonymousStatus: anonymous.status,
    before: { status: before.status, headline: headline(before.body) },
    after: { status: after.status, headline: headline(after.body) },
  };
}

/** Sends one message and waits for the agent to go idle, logging what it says. */
async function turn(client, sessionId, text, log) {
  const stream = await client.beta.sessions.events.stream(sessionId);
  await client.beta.sessions.events.send(sessionId, {
    events: [{ type: 'user.message', content: [{ type: 'text', text }] }],
  });
  for await (const e of stream) {
    if (e.type === 'agent.message') log(`agent: ${e.content.map((b) => b.text ?? '').join('')}`);
    if (e.type === 'session.status_terminated') throw new Error('the session terminated');
    if (e.type === 'session.status_idle' && e.stop_reason?.type !== 'requires_action') return;
  }
}

/** A Berth extension route (plain fetch with the API key). */
async function berth(app, method, path, body) {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: { 'x-api-key': app.adminKey, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${json.error?.message}`);
  return json;
}

/**
 * GET a preview URL. Browsers resolve `*.localhost` to loopback; node's resolver here does not, so the connection
 * goes to 127.0.0.1 while the Host header keeps the preview's name (which is how berthd routes it).
 */
function get(url, headers) {
  const lookup = (_host, opts, cb) =>
    opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
  return new Promise((resolve, reject) => {
    request(url, { headers, lookup }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    })
      .on('error', reject)
      .end();
  });
}

function headline(html) {
  return /<h1>(.*?)<\/h1>/s.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? null;
}
