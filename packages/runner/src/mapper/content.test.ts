import { describe, expect, it } from 'vitest';
import { ToolResultContentSchema } from '@berth/protocol';
import { toolResultContent, truncateText } from './content.js';
import { classifyModelError } from './errors.js';
import { fitEvent } from './fit.js';

describe('toolResultContent', () => {
  it('keeps strings and text blocks, summarises images and other blocks', () => {
    expect(toolResultContent('hi')).toEqual([{ type: 'text', text: 'hi' }]);
    expect(toolResultContent(undefined)).toEqual([]);
    const out = toolResultContent([
      { type: 'text', text: 'a' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'xxx' } },
      { type: 'tool_reference', tool_name: 'Foo' },
    ]);
    expect(out.map((b) => b.text)).toEqual([
      'a',
      '[image image/png omitted]',
      '[tool_reference block] {"type":"tool_reference","tool_name":"Foo"}',
    ]);
  });

  it('truncates huge output and says so', () => {
    const out = toolResultContent('x'.repeat(250_000), 1000);
    expect(out[0]!.text).toHaveLength(1000);
    expect(out[1]!.text).toContain('showing the first 1000 of 250000 characters');
  });

  it('stays within the schema block limit', () => {
    const out = toolResultContent(Array.from({ length: 300 }, (_, i) => ({ type: 'text', text: `b${i}` })));
    expect(() => ToolResultContentSchema.parse(out)).not.toThrow();
    expect(out.at(-1)!.text).toContain('b299');
  });

  it('truncateText leaves short text alone', () => {
    expect(truncateText('abc', 3)).toBe('abc');
  });
});

describe('classifyModelError', () => {
  it('prefers the HTTP status over the coarse error kind', () => {
    expect(classifyModelError(529, 'server_error')).toBe('model_overloaded_error');
    expect(classifyModelError(429, 'rate_limit')).toBe('model_rate_limited_error');
    expect(classifyModelError(500, 'server_error')).toBe('model_request_failed_error');
    expect(classifyModelError(null, 'overloaded')).toBe('model_overloaded_error');
    expect(classifyModelError(null, undefined)).toBe('unknown_error');
  });
});

describe('fitEvent', () => {
  const id = 'sevt_01J00000000000000000000000';
  it('replaces an oversize tool input by a marked preview', () => {
    const e = fitEvent(
      { id, type: 'agent.tool_use', name: 'write', input: { content: 'x'.repeat(5_000_000) } },
      4 * 1024 * 1024,
    );
    expect(e.type === 'agent.tool_use' && e.input['berth_truncated']).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThan(4 * 1024 * 1024);
  });

  it('truncates long message text with multi-byte characters to fit', () => {
    const e = fitEvent(
      { id, type: 'agent.message', content: [{ type: 'text', text: '€'.repeat(1_500_000) }] },
      4 * 1024 * 1024,
    );
    expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThan(4 * 1024 * 1024);
  });
});
