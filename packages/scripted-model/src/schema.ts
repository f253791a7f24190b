import { z } from 'zod';

/**
 * Token counts a turn reports. Each missing count is reported as 0; a turn with no `usage` at all gets a
 * deterministic estimate instead (see `reply.ts`).
 */
export const UsageSchema = z.strictObject({
  input_tokens: z.number().int().nonnegative().optional(),
  output_tokens: z.number().int().nonnegative().optional(),
  cache_creation_input_tokens: z.number().int().nonnegative().optional(),
  cache_read_input_tokens: z.number().int().nonnegative().optional(),
});

/** A text block. Empty text is refused because the real API rejects empty text blocks in the history. */
export const TextBlockSchema = z.strictObject({ type: z.literal('text'), text: z.string().min(1) });

/**
 * A tool call. `name` is matched against the request's offered tools (exactly, else by a `__<name>` suffix);
 * the `toolu_` id is generated per reply so ids never repeat across a conversation.
 */
export const ToolUseBlockSchema = z.strictObject({
  type: z.literal('tool_use'),
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
});

/** An extended-thinking block; `signature` defaults to a fixed placeholder. */
export const ThinkingBlockSchema = z.strictObject({
  type: z.literal('thinking'),
  thinking: z.string(),
  signature: z.string().optional(),
});

/** One block of a scripted reply. */
export const ContentBlockSchema = z.discriminatedUnion('type', [
  TextBlockSchema,
  ToolUseBlockSchema,
  ThinkingBlockSchema,
]);

/** Milliseconds to wait before answering: simulates a slow model (and leaves room to interrupt). */
const DelaySchema = z.number().int().nonnegative().max(600_000).optional();

/** A turn that answers with a Message. */
export const ReplyTurnSchema = z.strictObject({
  content: z.array(ContentBlockSchema).min(1),
  usage: UsageSchema.optional(),
  /** Overrides the derived stop reason (`tool_use` when a tool_use block is emitted, else `end_turn`). */
  stop_reason: z.enum(['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal']).optional(),
  /**
   * A fixed message id instead of a fresh `msg_…` per reply: lets a scenario send the same message twice, as a
   * retried or replayed request would (what a usage ledger must count once).
   */
  message_id: z
    .string()
    .regex(/^msg_[A-Za-z0-9_-]{1,120}$/, 'must be msg_ followed by letters, digits, "_" or "-"')
    .optional(),
  delay_ms: DelaySchema,
});

/** A turn that answers with an HTTP error in the Anthropic error shape. */
export const ErrorTurnSchema = z.strictObject({
  error: z.strictObject({
    status: z.number().int().min(400).max(599),
    type: z.string().min(1),
    message: z.string(),
  }),
  delay_ms: DelaySchema,
});

/**
 * A reply turn or an error turn. The order matters to `load.ts`, which reports the error-turn branch's issues
 * when the object has an `error` key and the reply branch's otherwise.
 */
export const TurnSchema = z.union([ReplyTurnSchema, ErrorTurnSchema]);

/** Scenario names are what `[scenario:NAME]` can match. */
export const SCENARIO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A scenario file: the scripted replies for one conversation, selected by `[scenario:NAME]`. */
export const ScenarioSchema = z.strictObject({
  name: z.string().regex(SCENARIO_NAME, 'must be letters, digits, ".", "_" or "-", starting with a letter or digit'),
  description: z.string().optional(),
  /** The answer to the CLI's title-generation call; defaults to a title derived from `name`. */
  title: z.string().min(1).optional(),
  turns: z.array(TurnSchema).min(1),
  /** Past the last turn: `end` answers a fixed text, `repeat-last` repeats the last turn. Default `end`. */
  after: z.enum(['end', 'repeat-last']).optional(),
});

/** A validated scenario. Input and output types are the same: the schema has no defaults or transforms. */
export type Scenario = z.infer<typeof ScenarioSchema>;
/** One scripted turn (reply or error). */
export type ScenarioTurn = z.infer<typeof TurnSchema>;
/** A turn that answers with a Message. */
export type ReplyTurn = z.infer<typeof ReplyTurnSchema>;
/** A turn that answers with an HTTP error. */
export type ErrorTurn = z.infer<typeof ErrorTurnSchema>;
/** A scripted content block. */
export type ScriptedBlock = z.infer<typeof ContentBlockSchema>;
/** A scripted usage (counts optional). */
export type ScriptedUsage = z.infer<typeof UsageSchema>;
