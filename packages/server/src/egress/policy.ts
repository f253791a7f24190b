import net from 'node:net';
import { parseHostRule, ruleMatches, type HostRule } from './hosts.js';
import { specialRange } from './ranges.js';

/**
 * The registry hosts `allow_package_managers` admits, per manager (HTTPS, port 443; HTTP 80 too). Documented in
 * docs/security.md; keep the two in step.
 */
export const PACKAGE_MANAGER_HOSTS: Readonly<Record<string, readonly string[]>> = {
  apt: ['deb.debian.org', 'security.debian.org', 'archive.ubuntu.com', 'security.ubuntu.com'],
  cargo: ['crates.io', 'index.crates.io', 'static.crates.io'],
  gem: ['rubygems.org', 'index.rubygems.org'],
  go: ['proxy.golang.org', 'sum.golang.org'],
  npm: ['registry.npmjs.org', 'registry.yarnpkg.com'],
  pip: ['pypi.org', 'files.pythonhosted.org'],
};

/** A rule with where it came from, for the decision's explanation and the audit. */
interface SourcedRule {
  rule: HostRule;
  /** e.g. `allowed_hosts entry '*.example.com'`. */
  source: string;
}

/** What the proxy may do with a request, before name resolution. */
export type Decision =
  | {
      allowed: true;
      rule: string;
      /** An IP literal the environment named: special ranges are allowed. */ explicit: boolean;
    }
  | { allowed: false; rule: string; reason: string };

/** The inputs a session's policy is compiled from. */
export interface PolicyInput {
  /** The environment's stored `config` (§4 response form). */
  config: Record<string, unknown>;
  /** The agent's MCP servers (`[{name, type:'url', url}]`). */
  mcpServers: Array<{ name: string; url: string }>;
}

/** A session's compiled egress policy. Immutable; `decide` is pure. */
export class EgressPolicy {
  private constructor(
    readonly mode: 'unrestricted' | 'limited',
    private readonly rules: SourcedRule[],
  ) {}

  /** Compiles the policy. Entries were validated when the environment was stored; a bad one here is skipped. */
  static compile(input: PolicyInput): EgressPolicy {
    const networking = (input.config.networking ?? { type: 'limited' }) as {
      type?: string;
      allowed_hosts?: string[];
      allow_mcp_servers?: boolean;
      allow_package_managers?: boolean;
    };
    // self_hosted environments have no networking block: they get the default, deny everything.
    if (networking.type === 'unrestricted') return new EgressPolicy('unrestricted', []);
    const rules: SourcedRule[] = [];
    for (const entry of networking.allowed_hosts ?? []) {
      const rule = tryParse(entry);
      if (rule) rules.push({ rule, source: `allowed_hosts entry '${entry}'` });
    }
    if (networking.allow_mcp_servers === true) {
      for (const s of input.mcpServers) {
        const rule = mcpRule(s.url);
        if (rule) rules.push({ rule, source: `allow_mcp_servers (MCP server '${s.name}')` });
      }
    }
    if (networking.allow_package_managers === true) {
      for (const [manager, hosts] of Object.entries(PACKAGE_MANAGER_HOSTS)) {
        for (const h of hosts) {
          rules.push({
            rule: { kind: 'name', name: h, port: null, entry: h },
            source: `allow_package_managers (${manager})`,
          });
        }
      }
    }
    return new EgressPolicy('limited', rules);
  }

  /** Decides `host:port` (as the client named it) before any name resolution. */
  decide(rawHost: string, port: number): Decision {
    const host = normaliseHost(rawHost);
    if (host === null) return deny('invalid target', `'${rawHost}' is not a host name or IP address`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return deny('invalid target', `port ${port} is invalid`);
    const match = this.rules.find((r) => ruleMatches(r.rule, host, port));
    if (net.isIP(host) !== 0) {
      if (match?.rule.kind === 'ip') return { allowed: true, rule: match.source, explicit: true };
      const range = specialRange(host);
      if (this.mode === 'unrestricted' && range === null)
        return { allowed: true, rule: 'networking unrestricted', explicit: false };
      return deny(
        'ip literal',
        `IP-literal targets are refused${range ? ` (${host} is ${range})` : ''}; add '${fmt(host, port)}' to config.networking.allowed_hosts to allow exactly this target`,
      );
    }
    if (this.mode === 'unrestricted') return { allowed: true, rule: 'networking unrestricted', explicit: false };
    if (match) return { allowed: true, rule: match.source, explicit: false };
    return deny(
      'default deny',
      `${fmt(host, port)} is not allowed by the environment's networking (limited); add it to config.networking.allowed_hosts`,
    );
  }

  /**
   * Checks the addresses a name resolved to: every one must be an ordinary internet address (a name with one
   * private answer among public ones is refused: the connection could go to either). Returns null when fine.
   */
  checkResolved(host: string, addresses: string[]): Decision | null {
    for (const a of addresses) {
      const range = specialRange(a);
      if (range !== null) {
        return deny(
          'resolved to a special range',
          `${host} resolves to ${a} (${range}); names resolving to loopback, private, link-local or metadata ranges are refused. List the IP literal in allowed_hosts if this target is intended`,
        );
      }
    }
    return null;
  }
}

function deny(rule: string, reason: string): Decision {
  return { allowed: false, rule, reason };
}

function fmt(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Lower-cases, strips IPv6 brackets and one trailing dot; null for something that is not a host. */
export function normaliseHost(raw: string): string | null {
  let h = raw.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (net.isIP(h) !== 0) return h;
  if (h.length === 0 || h.length > 253 || !/^[a-z0-9.-]+$/.test(h) || h.includes('..')) return null;
  return h;
}

function tryParse(entry: string): HostRule | null {
  try {
    return parseHostRule(entry);
  } catch {
    return null;
  }
}

/** The exact `host:port` an MCP server URL names (its scheme's port when none is given). */
function mcpRule(url: string): HostRule | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  const host = normaliseHost(u.hostname);
  if (host === null) return null;
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  const family = net.isIP(host);
  if (family === 4 || family === 6) return { kind: 'ip', address: host, family, port, entry: url };
  return { kind: 'name', name: host, port, entry: url };
}
