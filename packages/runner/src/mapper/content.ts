/**
 * Converts tool output (Messages API `tool_result.content`) into the text blocks a Managed Agents
 * `agent.tool_result` carries, and bounds text so events stay well inside the frame limit.
 */

/** A Managed Agents text block. */
export interface TextBlock {
  type: 'text';
  text: string;
}

/** Total characters of one tool result kept; the CLI already trims Bash output to ~30k characters. */
export const MAX_TOOL_RESULT_CHARS = 100_000;
/** Characters of one agent message kept (the event schema allows 1M; the frame limit is 4 MiB of UTF-8). */
export const MAX_MESSAGE_CHARS = 500_000;
/** The event schema allows at most 100 blocks per tool result. */
const MAX_BLOCKS = 100;

/** Truncates `text` to `max` characters, saying so at the end, so a reader knows output is missing. */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n[truncated by Berth: showing the first ${max} of ${text.length} characters]`;
}

function describeBlock(block: unknown): string {
  if (typeof block !== 'object' || block === null) return String(block);
  const b = block as Record<string, unknown>;
  if (b['type'] === 'text' && typeof b['text'] === 'string') return b['text'];
  if (b['type'] === 'image') {
    const source = (b['source'] ?? {}) as Record<string, unknown>;
    const media = typeof source['media_type'] === 'string' ? ` ${source['media_type']}` : '';
    return `[image${media} omitted]`;
  }
  if (b['type'] === 'document') return '[document omitted]';
  const json = JSON.stringify(block) ?? '';
  const type = typeof b['type'] === 'string' ? b['type'] : 'content';
  return `[${type} block] ${json.length > 2000 ? json.slice(0, 2000) + '…' : json}`;
}

/** Tool result content → text blocks: strings kept, images/documents summarised, everything bounded. */
export function toolResultContent(content: unknown, maxChars = MAX_TOOL_RESULT_CHARS): TextBlock[] {
  let texts: string[];
  if (content === undefined || content === null) texts = [];
  else if (typeof content === 'string') texts = [content];
  else if (Array.isArray(content)) texts = content.map(describeBlock);
  else texts = [describeBlock(content)];

  if (texts.length > MAX_BLOCKS) {
    // Keep the block count legal by folding the tail into the last allowed block.
    texts = [...texts.slice(0, MAX_BLOCKS - 1), texts.slice(MAX_BLOCKS - 1).join('\n')];
  }
  const total = texts.reduce((n, t) => n + t.length, 0);
  if (total <= maxChars) return texts.map((text) => ({ type: 'text', text }));

  const out: TextBlock[] = [];
  let budget = maxChars;
  for (const t of texts) {
    if (budget <= 0) break;
    out.push({ type: 'text', text: t.slice(0, budget) });
    budget -= t.length;
  }
  const note = `[truncated by Berth: showing the first ${maxChars} of ${total} characters]`;
  if (out.length < MAX_BLOCKS) out.push({ type: 'text', text: note });
  else out[out.length - 1] = { type: 'text', text: `${out[out.length - 1]!.text}\n${note}` };
  return out;
}
