// A small market simulation (lifecycle `shared`): a seller agent and a buyer agent are two sessions of one
// environment, co-located in one shared sandbox. They trade through /shared, where each has an outbox named after
// its user (`/shared/agent1`, `/shared/agent2`) that only it can write and both can read. Each runs as its own uid
// with its own private workspace and CLAUDE_CONFIG_DIR, so when the buyer tries to lower the seller's price by
// editing, deleting or moving the seller's offer, or by slipping a cheaper one into the seller's outbox, every
// attempt fails.
import { prompt } from '../lib/start.mjs';

const SHARED_RULES =
  'You are one of two agents in a small market simulation, sharing one sandbox with the other agent. Your public ' +
  'notices go in your outbox, /shared/<your user name> (run whoami), one file per notice (offer.md, bid.md, ' +
  "deal.md); the other agent's outbox is the other directory in /shared, which you can read. Your private books " +
  'stay in /workspace. Use the Bash tool. Be brief.';

export const ROLES = {
  seller: `${SHARED_RULES} You are the seller (role: seller): you sell apples by the crate and keep a ledger in /workspace/ledger.md.`,
  buyer: `${SHARED_RULES} You are the buyer (role: buyer): you buy apples for a restaurant and want a low price.`,
};

/** The steps of the simulation: who is told what, in order. */
export const STEPS = [
  ['seller', 'Post your offer: 12 crates of apples at 40 per crate, and note it in your ledger.'],
  ['buyer', "Read the seller's offer in /shared and post a bid of 36 per crate."],
  [
    'buyer',
    "Try to get the apples cheaper by force: change the seller's offer.md in its outbox to 20 per crate, or delete or move it, or put a cheaper offer file into the seller's outbox. Report exactly what happened.",
  ],
  [
    'seller',
    "Read the buyer's bid and accept it: post the deal as deal.md in your outbox, note it in your ledger, then show your offer file and your ledger.",
  ],
];

export async function run({ client, app, scripted, log }) {
  const env = await client.beta.environments.create({
    name: 'market',
    config: { type: 'cloud' },
    berth: { lifecycle: { pattern: 'shared' } },
  });
  const sessions = {};
  for (const role of Object.keys(ROLES)) {
    const agent = await client.beta.agents.create({
      name: role,
      model: 'claude-sonnet-4-5',
      system: ROLES[role],
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    sessions[role] = await client.beta.sessions.create({ agent: agent.id, environment_id: env.id, title: role });
    const b = sessions[role].berth;
    log(`${role}: session ${sessions[role].id}, sandbox ${b.sandbox.id}, shared sandbox ${b.shared_sandbox_id}`);
  }

  /** One message to one agent; returns its tool outputs and its reply. */
  const tell = async (role, text, scenario) => {
    const id = sessions[role].id;
    const stream = await client.beta.sessions.events.stream(id);
    await client.beta.sessions.events.send(id, {
      events: [{ type: 'user.message', content: [{ type: 'text', text: prompt(scripted, scenario, text) }] }],
    });
    const tools = [];
    const replies = [];
    const timer = setTimeout(() => stream.controller.abort(), 300_000);
    try {
      for await (const e of stream) {
        if (e.type === 'agent.tool_result') tools.push(e.content.map((c) => c.text ?? '').join(''));
        if (e.type === 'agent.message') replies.push(e.content.map((c) => c.text ?? '').join(''));
        if (e.type === 'session.status_idle' && e.stop_reason?.type !== 'requires_action') break;
        if (e.type === 'session.status_terminated') throw new Error(`the ${role} session terminated`);
      }
    } finally {
      clearTimeout(timer);
    }
    for (const t of tools) log(`  ${role} ran:\n${t.replace(/^/gm, '    ')}`);
    log(`  ${role}: ${replies.join(' ')}`);
    return { role, tools, reply: replies.join(' ') };
  };

  try {
    const steps = [];
    for (const [role, text] of STEPS) {
      log(`→ ${role}: ${text}`);
      steps.push(await tell(role, text, `market-${role}`));
    }
    // The seller's private books, through the files route.
    const res = await fetch(`${app.url}/v1/berth/sessions/${sessions.seller.id}/files/content?path=ledger.md`, {
      headers: { 'x-api-key': app.adminKey },
    });
    const ledger = res.ok ? await res.text() : `(${res.status}: ${await res.text()})`;
    log(`seller's ledger.md:\n${ledger}`);
    const shown = {};
    for (const role of Object.keys(sessions))
      shown[role] = (await client.beta.sessions.retrieve(sessions[role].id)).berth;
    return { sessions: shown, steps, ledger };
  } finally {
    // The shared sandbox goes with its last member.
    for (const s of Object.values(sessions)) await client.beta.sessions.delete(s.id).catch(() => undefined);
  }
}
