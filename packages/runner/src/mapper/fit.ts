import type { RunnerEvent } from '@berth/protocol';
import { truncateText } from './content.js';

/** Room kept for the frame envelope (`type`, `session_id`, `seq`) around an event. */
const ENVELOPE_BYTES = 1024;

/**
 * Makes an event fit in one control frame. berthd closes the connection on an oversize frame, and the outbox
 * would re-send it forever, so an event that is too big is cut down here instead: long texts are truncated
 * with a note, and an oversize tool input is replaced by a marked preview.
 */
export function fitEvent(event: RunnerEvent, maxFrameBytes: number): RunnerEvent {
  const budget = maxFrameBytes - ENVELOPE_BYTES;
  const size = Buffer.byteLength(JSON.stringify(event));
  if (size <= budget) return event;
  // Scale texts by the overshoot, with a margin for escapes and multi-byte characters.
  const factor = (budget / size) * 0.8;
  if (event.type === 'agent.tool_use') {
    const json = JSON.stringify(event.input);
    const preview = json.slice(0, Math.floor(Math.min(json.length * factor, 100_000)));
    return { ...event, input: { berth_truncated: true, original_bytes: size, preview } };
  }
  if (event.type === 'agent.message' || event.type === 'agent.tool_result') {
    const shrink = (text: string) => truncateText(text, Math.floor(text.length * factor));
    return { ...event, content: event.content.map((b) => ({ type: 'text', text: shrink(b.text) })) };
  }
  // Other events are small by construction; the outbox refuses one that is not.
  return event;
}
