import { describe, expect, it } from 'vitest';
import { HostRuleError, parseHostRule } from './hosts.js';
import { EgressPolicy } from './policy.js';
import { specialRange } from './ranges.js';

const limited = (
  allowed_hosts: string[],
  extra: Record<string, unknown> = {},
  mcpServers: { name: string; url: string }[] = [],
) =>
  EgressPolicy.compile({
    config: { type: 'cloud', networking: { type: 'limited', allowed_hosts, ...extra } },
    mcpServers,
  });

describe('allowed_hosts entries', () => {
  it.each([
    ['api.example.com', { kind: 'name', name: 'api.example.com', port: null }],
    ['API.Example.com:8443', { kind: 'name', name: 'api.example.com', port: 8443 }],
    ['*.example.com', { kind: 'wildcard', suffix: 'example.com', port: null }],
    ['*.example.co.uk', { kind: 'wildcard', suffix: 'example.co.uk', port: null }],
    ['127.0.0.1:8080', { kind: 'ip', address: '127.0.0.1', family: 4, port: 8080 }],
    ['[::1]:8080', { kind: 'ip', address: '::1', family: 6, port: 8080 }],
    ['2001:db8::5', { kind: 'ip', address: '2001:db8::5', family: 6, port: null }],
  ])('accepts %s', (entry, expected) => {
    expect(parseHostRule(entry)).toMatchObject(expected);
  });

  it.each([
    ['*', /every host/],
    ['*.com', /too broad: 'com' is a public suffix/],
    ['*.co.uk', /too broad/],
    ['*.github.io', /too broad/],
    ['com', /public suffix/],
    ['localhost', /single-label/],
    ['10.0.0.0/8', /address range/],
    ['https://example.com', /not a URL/],
    ['example.com/path', /not a URL/],
    ['a.*.example.com', /leading/],
    ['example.com:0', /ports are 1 to 65535/],
    ['example.com:http', /invalid port/],
    ['exa_mple.com', /not a valid host name/],
  ])('refuses %s with an explanation', (entry, message) => {
    expect(() => parseHostRule(entry)).toThrow(HostRuleError);
    expect(() => parseHostRule(entry)).toThrow(message);
  });
});

describe('special ranges', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local/metadata'],
    ['100.100.100.200', 'shared-address-space'],
    ['0.0.0.0', 'this-network'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['fd00::1', 'unique-local'],
    ['fe80::1', 'link-local/metadata'],
  ])('%s is %s', (address, range) => expect(specialRange(address)).toBe(range));

  it.each(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946', '8.8.8.8'])('%s is ordinary', (a) =>
    expect(specialRange(a)).toBeNull(),
  );
});

describe('EgressPolicy', () => {
  it('denies everything by default, naming the rule and what to change', () => {
    const p = EgressPolicy.compile({ config: { type: 'cloud' }, mcpServers: [] });
    expect(p.decide('example.com', 443)).toEqual({
      allowed: false,
      rule: 'default deny',
      reason: expect.stringMatching(/example\.com:443 is not allowed .*allowed_hosts/) as unknown,
    });
    const selfHosted = EgressPolicy.compile({ config: { type: 'self_hosted' }, mcpServers: [] });
    expect(selfHosted.decide('example.com', 443).allowed).toBe(false);
  });

  it('matches names, wildcards (subdomains only) and ports', () => {
    const p = limited(['api.example.com', '*.cdn.example.net', 'git.example.org:8443']);
    expect(p.decide('API.example.com.', 443)).toMatchObject({
      allowed: true,
      rule: "allowed_hosts entry 'api.example.com'",
    });
    expect(p.decide('api.example.com', 80).allowed).toBe(true);
    expect(p.decide('api.example.com', 22).allowed).toBe(false);
    expect(p.decide('a.b.cdn.example.net', 443).allowed).toBe(true);
    expect(p.decide('cdn.example.net', 443).allowed).toBe(false);
    expect(p.decide('evilcdn.example.net', 443).allowed).toBe(false);
    expect(p.decide('git.example.org', 8443).allowed).toBe(true);
    expect(p.decide('git.example.org', 443).allowed).toBe(false);
    expect(p.decide('other.com', 443).allowed).toBe(false);
  });

  it('refuses IP literals unless that exact target is listed, and then allows special ranges for it', () => {
    const p = limited(['127.0.0.1:8080', '[::1]:9090']);
    expect(p.decide('127.0.0.1', 8080)).toMatchObject({ allowed: true, explicit: true });
    expect(p.decide('[::1]', 9090)).toMatchObject({ allowed: true, explicit: true });
    expect(p.decide('0:0:0:0:0:0:0:1', 9090)).toMatchObject({ allowed: true });
    expect(p.decide('127.0.0.1', 8081)).toMatchObject({
      allowed: false,
      rule: 'ip literal',
      reason: expect.stringContaining("add '127.0.0.1:8081' to config.networking.allowed_hosts") as unknown,
    });
    expect(p.decide('169.254.169.254', 80)).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('link-local/metadata') as unknown,
    });
    expect(p.decide('93.184.216.34', 443).allowed).toBe(false);
  });

  it('unrestricted allows public names and addresses, never special ranges', () => {
    const p = EgressPolicy.compile({ config: { type: 'cloud', networking: { type: 'unrestricted' } }, mcpServers: [] });
    expect(p.decide('example.com', 8443)).toMatchObject({ allowed: true, rule: 'networking unrestricted' });
    expect(p.decide('93.184.216.34', 443).allowed).toBe(true);
    expect(p.decide('127.0.0.1', 80).allowed).toBe(false);
    expect(p.checkResolved('evil.example', ['93.184.216.34', '10.0.0.1'])).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('10.0.0.1 (private)') as unknown,
    });
    expect(p.checkResolved('ok.example', ['93.184.216.34'])).toBeNull();
  });

  it('admits MCP server hosts and package registries only when asked', () => {
    const mcp = [{ name: 'docs', url: 'http://127.0.0.1:7777/mcp' }];
    expect(limited([], {}, mcp).decide('127.0.0.1', 7777).allowed).toBe(false);
    expect(limited([], { allow_mcp_servers: true }, mcp).decide('127.0.0.1', 7777)).toMatchObject({
      allowed: true,
      rule: "allow_mcp_servers (MCP server 'docs')",
    });
    expect(limited([]).decide('registry.npmjs.org', 443).allowed).toBe(false);
    expect(limited([], { allow_package_managers: true }).decide('registry.npmjs.org', 443)).toMatchObject({
      allowed: true,
      rule: 'allow_package_managers (npm)',
    });
    expect(limited([], { allow_package_managers: true }).decide('pypi.org', 443).allowed).toBe(true);
  });

  it('refuses malformed targets', () => {
    const p = limited(['example.com']);
    expect(p.decide('exa mple.com', 443)).toMatchObject({ allowed: false, rule: 'invalid target' });
    expect(p.decide('example.com', 0)).toMatchObject({ allowed: false, rule: 'invalid target' });
  });
});
