import type { SessionRunConfig } from '@berth/protocol';
import { describe, expect, it } from 'vitest';
import { hostMatches, permissionFor, webDomainDecision } from './permissions.js';

const base = { ask_tools: [], allow_tools: [], web_domains: {} } as unknown as SessionRunConfig;
const cfg = (over: Partial<SessionRunConfig>) => ({ ...base, ...over });

describe('permissionFor', () => {
  it('asks for listed tools and for every tool of a listed MCP server, unless the tool is allowed', () => {
    const c = cfg({ ask_tools: ['Bash', 'mcp__docs'], allow_tools: ['mcp__docs__lookup'] });
    expect(permissionFor(c, 'Bash')).toBe('ask');
    expect(permissionFor(c, 'Read')).toBe('allow');
    expect(permissionFor(c, 'mcp__docs__search')).toBe('ask');
    expect(permissionFor(c, 'mcp__docs__lookup')).toBe('allow');
    // A server whose name only starts like the listed one is not covered.
    expect(permissionFor(c, 'mcp__docsx__search')).toBe('allow');
    // Custom tools wait for their result, never for a confirmation.
    expect(permissionFor(cfg({ ask_tools: ['mcp__custom'] }), 'mcp__custom__price')).toBe('allow');
  });
});

describe('web domain lists', () => {
  it('matches a domain and its subdomains only', () => {
    expect(hostMatches('docs.example.com', 'example.com')).toBe(true);
    expect(hostMatches('example.com', '*.example.com')).toBe(true);
    expect(hostMatches('badexample.com', 'example.com')).toBe(false);
    expect(hostMatches('EXAMPLE.com.', 'example.com')).toBe(true);
  });

  it('refuses a WebFetch outside allowed_domains or inside blocked_domains', () => {
    const c = cfg({ web_domains: { WebFetch: { allowed: ['example.com'], blocked: ['secret.example.com'] } } });
    expect(webDomainDecision(c, 'WebFetch', { url: 'https://docs.example.com/a' })).toBeNull();
    expect(webDomainDecision(c, 'WebFetch', { url: 'https://other.test/' })).toMatchObject({
      deny: expect.stringContaining('allowed_domains are example.com') as string,
    });
    expect(webDomainDecision(c, 'WebFetch', { url: 'https://secret.example.com/' })).toMatchObject({
      deny: expect.stringContaining('blocked_domains') as string,
    });
    expect(webDomainDecision(c, 'WebFetch', { url: 'not a url' })).toMatchObject({
      deny: expect.any(String) as string,
    });
    expect(webDomainDecision(c, 'Bash', { command: 'curl other.test' })).toBeNull();
  });

  it('narrows a WebSearch to the allowed domains and adds the blocked ones', () => {
    const c = cfg({ web_domains: { WebSearch: { allowed: ['example.com'], blocked: ['ads.test'] } } });
    expect(webDomainDecision(c, 'WebSearch', { query: 'q' })).toEqual({
      input: { query: 'q', allowed_domains: ['example.com'], blocked_domains: ['ads.test'] },
    });
    expect(
      webDomainDecision(c, 'WebSearch', { query: 'q', allowed_domains: ['docs.example.com', 'evil.test'] }),
    ).toEqual({ input: { query: 'q', allowed_domains: ['docs.example.com'], blocked_domains: ['ads.test'] } });
    expect(webDomainDecision(c, 'WebSearch', { query: 'q', allowed_domains: ['evil.test'] })).toMatchObject({
      deny: expect.any(String) as string,
    });
  });
});
