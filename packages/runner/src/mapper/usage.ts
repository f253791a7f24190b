import type { ModelUsage } from '@berth/protocol';

const COUNTS = ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const;

/** An all-zero usage record (failed requests and missing fields count as zero). */
export function zeroUsage(): ModelUsage {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

/**
 * Merges a Messages API usage object into `into`: `message_start` carries the first values, `message_delta`
 * the final ones, and later reported values override earlier ones. Only what the model reported is taken;
 * null, absent or non-integer fields leave the previous value.
 */
export function mergeUsage(into: ModelUsage, reported: unknown): ModelUsage {
  if (typeof reported !== 'object' || reported === null) return into;
  const r = reported as Record<string, unknown>;
  for (const key of COUNTS) {
    const v = r[key];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) into[key] = v;
  }
  if (r['speed'] === 'standard' || r['speed'] === 'fast') into.speed = r['speed'];
  return into;
}
