import type { Message } from './message.js';
import { buildReply, textReply } from './reply.js';
import { countModelTurns, readMessagesRequest, scenarioMarker, structuredOutputSchema } from './request.js';
import type { Scenario, ScenarioTurn } from './schema.js';
import { structuredAnswer } from './structured.js';

/** The scenario used when the first user message names none. */
export const DEFAULT_SCENARIO = 'default';

/** What to answer one `POST /v1/messages`, decided before anything is sent (so it can be recorded first). */
export interface Plan {
  /** The selected scenario (null when the body is unreadable). */
  scenario: string | null;
  /** Model turns already in the history, i.e. the index of the scripted turn used (null for non-turn calls). */
  turn: number | null;
  delayMs: number;
  outcome:
    | { kind: 'message'; message: Message; stream: boolean }
    | { kind: 'error'; status: number; type: string; message: string };
}

function invalid(message: string, scenario: string | null = null, turn: number | null = null): Plan {
  return {
    scenario,
    turn,
    delayMs: 0,
    outcome: { kind: 'error', status: 400, type: 'invalid_request_error', message },
  };
}

/** `turns[index]`, or what the scenario's `after` rule says past the end (null: answer the end notice). */
export function pickTurn(scenario: Scenario, index: number): ScenarioTurn | null {
  const turn = scenario.turns[index];
  if (turn) return turn;
  return scenario.after === 'repeat-last' ? (scenario.turns[scenario.turns.length - 1] ?? null) : null;
}

/**
 * Decides the answer to a Messages request. Stateless on purpose: the turn comes from the history in the
 * request, so resumed, continued and forked conversations get the right turn without server-side sessions.
 */
export function planMessages(body: unknown, scenarios: ReadonlyMap<string, Scenario>): Plan {
  const req = readMessagesRequest(body);
  if (typeof req === 'string') return invalid(req);
  const name = scenarioMarker(req) ?? DEFAULT_SCENARIO;
  const scenario = scenarios.get(name);
  if (!scenario) {
    const known = [...scenarios.keys()].sort().join(', ');
    return invalid(`unknown scenario "${name}" (from [scenario:${name}]); known scenarios: ${known}`, name);
  }
  const stream = req.stream;
  // The CLI's session-title call repeats the first prompt (marker included) but is not a turn of the agent loop.
  const schema = structuredOutputSchema(req);
  if (schema) {
    const message = textReply(structuredAnswer(schema, scenario.title ?? `Scripted ${scenario.name}`), req);
    return { scenario: name, turn: null, delayMs: 0, outcome: { kind: 'message', message, stream } };
  }
  const index = countModelTurns(req);
  const turn = pickTurn(scenario, index);
  if (!turn) {
    const message = textReply(`(scenario ${name} has no more turns)`, req);
    return { scenario: name, turn: index, delayMs: 0, outcome: { kind: 'message', message, stream } };
  }
  const delayMs = turn.delay_ms ?? 0;
  if ('error' in turn) {
    const { status, type, message } = turn.error;
    return { scenario: name, turn: index, delayMs, outcome: { kind: 'error', status, type, message } };
  }
  const reply = buildReply(turn, req, name);
  if (!reply.ok) return invalid(reply.message, name, index);
  return { scenario: name, turn: index, delayMs, outcome: { kind: 'message', message: reply.message, stream } };
}
