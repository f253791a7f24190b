/**
 * Reading a Messages API request body. Bodies come from arbitrary clients, so everything here takes `unknown`
 * and tolerates shapes it does not expect rather than throwing.
 */

/** The subset of a Messages API request the scripted model looks at. */
export interface MessagesRequest {
  model: string;
  messages: Array<{ role: string; content: unknown }>;
  system?: unknown;
  tools?: unknown;
  stream: boolean;
  output_config?: unknown;
}

/** `[scenario:NAME]`, also markdown-escaped (`\[scenario:NAME\]`): WebFetch hands pages over as markdown. */
const MARKER = /\\?\[scenario:([A-Za-z0-9][A-Za-z0-9._-]*)\\?\]/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Checks the fields the model relies on; returns a problem description, or the narrowed request. */
export function readMessagesRequest(body: unknown): MessagesRequest | string {
  if (!isRecord(body)) return 'the request body must be a JSON object';
  if (!Array.isArray(body.messages)) return 'messages: field required (an array of messages)';
  for (const [i, m] of body.messages.entries()) {
    if (!isRecord(m) || typeof m.role !== 'string') return `messages.${i}.role: field required`;
  }
  return {
    model: typeof body.model === 'string' ? body.model : 'scripted-model',
    messages: body.messages as MessagesRequest['messages'],
    system: body.system,
    tools: body.tools,
    stream: body.stream === true,
    output_config: body.output_config,
  };
}

/** The conversation without the `{"role":"system"}` entries the CLI places inside `messages`. */
function conversation(req: MessagesRequest): MessagesRequest['messages'] {
  return req.messages.filter((m) => m.role !== 'system');
}

function textsOf(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  const texts: string[] = [];
  for (const block of content as unknown[]) {
    if (isRecord(block) && block.type === 'text' && typeof block.text === 'string') texts.push(block.text);
  }
  return texts;
}

/**
 * The scenario named by `[scenario:NAME]` in the first user message, searching every text block: the CLI puts
 * `<system-reminder>` blocks before the prompt, and its title call wraps the prompt in `<session>` tags.
 */
export function scenarioMarker(req: MessagesRequest): string | null {
  const first = conversation(req).find((m) => m.role === 'user');
  for (const text of first ? textsOf(first.content) : []) {
    const match = MARKER.exec(text);
    if (match) return match[1]!;
  }
  return null;
}

/**
 * How many model turns the request's history already holds: the number of runs of consecutive assistant
 * messages. The CLI sends one assistant message per model reply, but a client that splits a reply into several
 * assistant messages (one per block, as the SDK yields them) still counts as one turn.
 */
export function countModelTurns(req: MessagesRequest): number {
  let turns = 0;
  let inAssistantRun = false;
  for (const m of conversation(req)) {
    if (m.role === 'assistant' && !inAssistantRun) turns++;
    inAssistantRun = m.role === 'assistant';
  }
  return turns;
}

/** Names of the tools the request offers (`[]` when none). */
export function offeredToolNames(req: MessagesRequest): string[] {
  if (!Array.isArray(req.tools)) return [];
  const names: string[] = [];
  for (const tool of req.tools as unknown[]) if (isRecord(tool) && typeof tool.name === 'string') names.push(tool.name);
  return names;
}

/**
 * The JSON schema of a tool-less structured-output call (the CLI's session-title request), or null for an
 * ordinary agent-loop call.
 */
export function structuredOutputSchema(req: MessagesRequest): Record<string, unknown> | null {
  if (offeredToolNames(req).length > 0) return null;
  const format = isRecord(req.output_config) ? req.output_config.format : undefined;
  if (!isRecord(format) || format.type !== 'json_schema') return null;
  return isRecord(format.schema) ? format.schema : {};
}
