import { describe, expect, it } from 'vitest';
import { readMessagesRequest, scenarioMarker, type MessagesRequest } from './request.js';

const req = (text: string) => readMessagesRequest({ messages: [{ role: 'user', content: text }] }) as MessagesRequest;

describe('scenarioMarker', () => {
  it('finds a plain marker and a markdown-escaped one (pages WebFetch converts to markdown)', () => {
    expect(scenarioMarker(req('go [scenario:three]'))).toBe('three');
    expect(scenarioMarker(req('Web page: \\[scenario:fetched-page\\] The token'))).toBe('fetched-page');
  });

  it('ignores text without a well-formed marker', () => {
    expect(scenarioMarker(req('[scenario:]'))).toBeNull();
    expect(scenarioMarker(req('scenario:three'))).toBeNull();
  });
});
