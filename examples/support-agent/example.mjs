// The support agent: a hybrid session per customer conversation. Customers answer slowly, so between their
// messages the session hibernates: its workspace (the agent's case notes) and its transcript go to the blob store
// and its sandbox is destroyed, leaving no process and no memory behind. The customer's next message resumes it
// transparently in a fresh sandbox with the same files and the whole conversation; the client only sees a slower
// first event. The script prints the session's `berth.state` as it changes and that extra latency.
import { prompt } from '../lib/start.mjs';

/** Idle seconds before the session hibernates (production would use minutes; the example wants to be quick). */
export const HIBERNATE_AFTER_S = 3;

const SYSTEM =
  'You are the support agent of Brewtone, a maker of espresso machines. Keep one case file per customer in ' +
  '/workspace/notes/<first-name>-<order>.md: write what the customer reported and what you suggested, and read it ' +
  'at the start of each later message before you answer. Answer briefly and politely.';

export const MESSAGES = [
  "Hi, I'm Maya Lind (order 4417). My Brewtone Duo shows error E42 since I descaled it yesterday. What can I do?",
  'I tried what you said, but it still shows E42.',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function run({ client, app, scripted, log }) {
  const t0 = performance.now();
  const since = () => `${((performance.now() - t0) / 1000).toFixed(2)}s`;

  const agent = await client.beta.agents.create({
    name: 'support-agent',
    model: 'claude-sonnet-4-5',
    system: SYSTEM,
    tools: [{ type: 'agent_toolset_20260401' }],
  });
  const env = await client.beta.environments.create({
    name: 'support',
    config: { type: 'cloud' },
    berth: { lifecycle: { pattern: 'hybrid', hibernate_after_s: HIBERNATE_AFTER_S } },
  });
  const session = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id, title: 'Maya' });
  log(`session ${session.id} (hybrid, hibernate_after_s ${HIBERNATE_AFTER_S})`);

  // berth.state as it changes (polled: a very short state can be missed, the order of those seen is exact).
  const transitions = [];
  const sandboxes = [];
  let polling = true;
  const watch = (async () => {
    while (polling) {
      const s = await client.beta.sessions.retrieve(session.id);
      if (transitions.at(-1)?.state !== s.berth.state) {
        transitions.push({ at_ms: Math.round(performance.now() - t0), state: s.berth.state });
        log(`${since()}  berth.state ${s.berth.state}  sandbox ${JSON.stringify(s.berth.sandbox)}`);
      }
      if (s.berth.sandbox.id && !sandboxes.includes(s.berth.sandbox.id)) sandboxes.push(s.berth.sandbox.id);
      await sleep(50);
    }
  })();
  const until = async (state, timeoutMs) => {
    const end = Date.now() + timeoutMs;
    while (transitions.at(-1)?.state !== state) {
      if (Date.now() > end) throw new Error(`berth.state did not become ${state} in ${timeoutMs} ms`);
      await sleep(20);
    }
  };

  /** One customer message: its events, and how long until the echo, the agent's first event and the idle. */
  const turn = async (text) => {
    const stream = await client.beta.sessions.events.stream(session.id);
    const sent = performance.now();
    await client.beta.sessions.events.send(session.id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text }] }],
    });
    const events = [];
    const ms = {};
    const timer = setTimeout(() => stream.controller.abort(), 300_000);
    try {
      for await (const e of stream) {
        events.push(e);
        const at = Math.round(performance.now() - sent);
        if (e.type === 'user.message') ms.echo ??= at;
        if (e.type.startsWith('agent.')) ms.first_agent_event ??= at;
        if (e.type === 'agent.message') log(`agent: ${e.content.map((b) => b.text ?? '').join('')}`);
        if (e.type === 'session.status_idle' && e.stop_reason?.type !== 'requires_action') {
          ms.idle = at;
          break;
        }
        if (e.type === 'session.status_terminated') throw new Error('the session terminated');
      }
    } finally {
      clearTimeout(timer);
    }
    return { events, ms };
  };

  try {
    await until('ready', 60_000);
    log(`customer: ${MESSAGES[0]}`);
    const first = await turn(prompt(scripted, 'support-desk', MESSAGES[0]));
    log(`first message: agent's first event after ${first.ms.first_agent_event} ms (sandbox running)`);

    // The customer goes away; after hibernate_after_s idle the session hibernates.
    await until('hibernated', (HIBERNATE_AFTER_S + 60) * 1000);
    const hibernated = await client.beta.sessions.retrieve(session.id);
    log(`hibernated: sandbox ${JSON.stringify(hibernated.berth.sandbox)}, status ${hibernated.status}`);

    log(`customer: ${MESSAGES[1]}`);
    const second = await turn(MESSAGES[1]);
    const extra = second.ms.first_agent_event - first.ms.first_agent_event;
    log(
      `second message (resumed from hibernation): agent's first event after ${second.ms.first_agent_event} ms, ` +
        `${extra} ms more than on the running sandbox`,
    );
    await until('ready', 30_000);

    // The case file the agent kept across the hibernation, read through the files route.
    const res = await fetch(
      `${app.url}/v1/berth/sessions/${session.id}/files/content?path=${encodeURIComponent('notes/maya-4417.md')}`,
      { headers: { 'x-api-key': app.adminKey } },
    );
    const notes = res.ok ? await res.text() : `(${res.status}: ${await res.text()})`;
    log(`workspace notes/maya-4417.md:\n${notes}`);
    polling = false;
    await watch;
    await client.beta.sessions.delete(session.id);
    return { sessionId: session.id, transitions, sandboxes, first, second, extraFirstEventMs: extra, notes };
  } finally {
    polling = false;
    await watch.catch(() => undefined);
  }
}
