import net from 'node:net';
import { parse } from 'tldts';
import type { z } from 'zod';

/**
 * One parsed `allowed_hosts` entry. A name or wildcard without a port admits the web ports (80 and 443); an entry
 * with a port admits exactly that port.
 */
export type HostRule =
  | { kind: 'name'; name: string; port: number | null; entry: string }
  | { kind: 'wildcard'; suffix: string; port: number | null; entry: string }
  | { kind: 'ip'; address: string; family: 4 | 6; port: number | null; entry: string };

/** Ports a rule without an explicit port admits. */
export const WEB_PORTS: readonly number[] = [80, 443];

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** A problem with an entry, worded for the API user (the caller adds which entry and where). */
export class HostRuleError extends Error {}

function parsePort(text: string, entry: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new HostRuleError(`'${entry}' has an invalid port '${text}'`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new HostRuleError(`'${entry}' has port ${port}; ports are 1 to 65535`);
  return port;
}

/** Splits `host[:port]` and `[v6]:port`; a bare IPv6 literal has no port. */
function splitHostPort(entry: string): { host: string; port: number | null } {
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
  if (bracketed)
    return { host: bracketed[1]!, port: bracketed[2] === undefined ? null : parsePort(bracketed[2], entry) };
  if (net.isIPv6(entry)) return { host: entry, port: null };
  const colon = entry.lastIndexOf(':');
  if (colon < 0) return { host: entry, port: null };
  return { host: entry.slice(0, colon), port: parsePort(entry.slice(colon + 1), entry) };
}

function checkName(name: string, entry: string): void {
  if (name.length > 253 || !name.split('.').every((l) => LABEL.test(l))) {
    throw new HostRuleError(`'${entry}' is not a valid host name (letters, digits, '-' and '.' only)`);
  }
}

/**
 * Parses and checks one `allowed_hosts` entry. Accepted: `api.example.com`, `api.example.com:8443`,
 * `*.example.com` (any subdomain, not the apex), an IP literal (`127.0.0.1:8080`, `[::1]:8080`, `10.0.0.5`).
 * Refused with the reason: URLs, paths, CIDR ranges, `*`, wildcards over a public suffix (`*.com`, `*.co.uk`,
 * `*.github.io`) and anything else broader than one site.
 */
export function parseHostRule(raw: string): HostRule {
  const entry = raw.trim().toLowerCase();
  if (entry === '*' || entry === '*.*') {
    throw new HostRuleError(`'${raw}' would allow every host; use networking.type 'unrestricted' for that`);
  }
  if (entry.includes('://') || entry.includes('/')) {
    if (/^[\d.:[\]a-f]+\/\d+$/.test(entry)) {
      throw new HostRuleError(`'${raw}' is an address range; list each IP literal (optionally with a port) instead`);
    }
    throw new HostRuleError(`'${raw}' must be a host, optionally with ':port', not a URL or path`);
  }
  const { host, port } = splitHostPort(entry);
  const family = net.isIP(host);
  if (family === 4 || family === 6) return { kind: 'ip', address: host, family, port, entry };
  if (host.startsWith('*.')) {
    const suffix = host.slice(2);
    checkName(suffix, raw);
    const p = parse(suffix, { allowPrivateDomains: true });
    if (p.isIp || p.domain === null) {
      throw new HostRuleError(
        `'${raw}' is too broad: '${suffix}' is a public suffix shared by unrelated owners; name a domain below it (e.g. '*.example.${suffix}')`,
      );
    }
    return { kind: 'wildcard', suffix, port, entry };
  }
  if (host.includes('*')) {
    throw new HostRuleError(
      `'${raw}' has a '*' that is not a leading '*.' label; only '*.example.com' forms are allowed`,
    );
  }
  checkName(host, raw);
  const p = parse(host, { allowPrivateDomains: true });
  if (p.domain === null) {
    throw new HostRuleError(
      `'${raw}' names a public suffix or a bare single-label name, not a host; name the host itself`,
    );
  }
  return { kind: 'name', name: host, port, entry };
}

/** True when `rule` admits `host:port` (host lower-cased, IPv6 without brackets). */
export function ruleMatches(rule: HostRule, host: string, port: number): boolean {
  const portOk = rule.port === null ? WEB_PORTS.includes(port) : rule.port === port;
  if (!portOk) return false;
  switch (rule.kind) {
    case 'name':
      return host === rule.name;
    case 'wildcard':
      return host.endsWith(`.${rule.suffix}`);
    case 'ip':
      return net.isIP(host) === rule.family && sameAddress(host, rule.address, rule.family);
  }
}

function sameAddress(a: string, b: string, family: 4 | 6): boolean {
  if (family === 4) return a === b;
  // IPv6 literals have many spellings; a BlockList compares them as addresses.
  const list = new net.BlockList();
  list.addAddress(b, 'ipv6');
  return list.check(a, 'ipv6');
}

/** A zod `superRefine` check that reports why an entry is not an acceptable host rule (see {@link parseHostRule}). */
export function checkHostRule(entry: string, ctx: z.RefinementCtx): void {
  try {
    parseHostRule(entry);
  } catch (err) {
    if (!(err instanceof HostRuleError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message });
  }
}
