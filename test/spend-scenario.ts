/**
 * A scripted scenario whose every model request has a known list price, for budget tests: claude-sonnet-4-5 lists
 * at $3 / $15 per million input / output tokens, so each request costs 100,000 × 3 + 1,000 × 15 = 315,000
 * micro-dollars = 31.5 cents. `spend` makes three requests (two Bash steps, then a text answer): a 40-cent cap lets
 * exactly two go upstream (0 and 31.5 spent), and refuses the third (63 spent).
 */
export const SPEND_USAGE = {
  input_tokens: 100_000,
  output_tokens: 1_000,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};

const step = {
  content: [{ type: 'tool_use', name: 'Bash', input: { command: 'true', description: 'step' } }],
  usage: SPEND_USAGE,
};

export const SPEND_SCENARIO = {
  name: 'spend',
  turns: [step, step, { content: [{ type: 'text', text: 'Finished.' }], usage: SPEND_USAGE }],
};
