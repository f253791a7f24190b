import { z } from 'zod';

/** Request shapes of the events routes (§3). */

const Base64Source = z.strictObject({
  type: z.literal('base64'),
  media_type: z.string().min(1).max(128),
  data: z.string().max(20_000_000),
});
const UrlSource = z.strictObject({ type: z.literal('url'), url: z.url() });
const FileSource = z.strictObject({ type: z.literal('file'), file_id: z.string().min(1).max(128) });
const TextSource = z.strictObject({ type: z.literal('text'), data: z.string(), media_type: z.literal('text/plain') });

export const UserContentSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: z.string().min(1, 'text blocks must not be empty').max(1_000_000) }),
  z.strictObject({
    type: z.literal('image'),
    source: z.discriminatedUnion('type', [Base64Source, UrlSource, FileSource]),
  }),
  z.strictObject({
    type: z.literal('document'),
    source: z.discriminatedUnion('type', [Base64Source, TextSource, UrlSource, FileSource]),
    title: z.string().max(500).nullable().optional(),
    context: z.string().max(10_000).nullable().optional(),
  }),
]);

export const UserMessageSchema = z.strictObject({
  type: z.literal('user.message'),
  content: z.array(UserContentSchema).min(1).max(100),
});

export const UserInterruptSchema = z.strictObject({
  type: z.literal('user.interrupt'),
  session_thread_id: z.string().max(128).optional(),
});

export const ToolConfirmationSchema = z.strictObject({
  type: z.literal('user.tool_confirmation'),
  tool_use_id: z.string().min(1).max(128),
  result: z.enum(['allow', 'deny'], { error: "result must be 'allow' or 'deny'" }),
  deny_message: z.string().max(10_000).nullable().optional(),
  session_thread_id: z.string().max(128).optional(),
});

export const CustomToolResultSchema = z.strictObject({
  type: z.literal('user.custom_tool_result'),
  custom_tool_use_id: z.string().min(1).max(128),
  content: z
    .array(
      z.strictObject(
        { type: z.literal('text'), text: z.string().max(1_000_000) },
        {
          error: 'custom tool results carry text blocks ({type:"text", text}) only',
        },
      ),
    )
    .max(100)
    .optional(),
  is_error: z.boolean().optional(),
  session_thread_id: z.string().max(128).optional(),
});

export const SystemMessageSchema = z.strictObject({
  type: z.literal('system.message'),
  content: z
    .array(z.strictObject({ type: z.literal('text'), text: z.string().min(1).max(1_000_000) }))
    .min(1)
    .max(100),
});

const Unsupported = z
  .object({
    type: z.enum(['user.tool_result', 'user.define_outcome']),
  })
  .loose();

export const SendEventSchema = z.discriminatedUnion('type', [
  UserMessageSchema,
  UserInterruptSchema,
  ToolConfirmationSchema,
  CustomToolResultSchema,
  SystemMessageSchema,
  Unsupported,
]);

export const SendEventsBodySchema = z.strictObject({
  events: z.array(SendEventSchema).min(1, 'send at least one event').max(50, 'send at most 50 events at once'),
});

export const EVENT_DELTA_TYPES = ['agent.message', 'agent.thinking'] as const;
