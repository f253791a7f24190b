import { randomBytes } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Logger } from '../logger.js';
import type { ResolvedCredential, VaultService } from '../vaults/service.js';
import { parseHostRule, ruleMatches } from './hosts.js';
import type { OutboundRequest, RequestRewriter } from './proxy.js';

/**
 * Vault credentials for one session, injected at egress. The sandbox never holds a secret:
 * - `environment_variable` credentials appear in the sandbox as `NAME=<placeholder>`; a plain-HTTP request that
 *   carries the placeholder (in a header, or in the body when the credential allows it) to a host the credential
 *   allows gets the real value in its place;
 * - `static_bearer` and `mcp_oauth` credentials set `Authorization: Bearer …` on plain-HTTP requests to their MCP
 *   server URL (same origin, path below it).
 * TLS tunnels (CONNECT) are passed through untouched, so nothing is injected into HTTPS traffic.
 *
 * Credentials are read from the vaults on every request that could use one, so archiving or deleting a credential
 * revokes it for running sessions at once.
 */
export class CredentialInjector implements RequestRewriter {
  private constructor(
    private readonly vaults: VaultService,
    private readonly vaultIds: readonly string[],
    /** secret name -> placeholder, fixed for the session's life (the sandbox env is set once). */
    private readonly placeholders: ReadonlyMap<string, string>,
    private readonly log: Logger,
  ) {}

  /** Builds the injector for a session and picks a fresh placeholder per environment variable credential. */
  static async forSession(vaults: VaultService, vaultIds: readonly string[], log: Logger): Promise<CredentialInjector> {
    const placeholders = new Map<string, string>();
    for (const c of await vaults.credentialsForSession(vaultIds)) {
      if (c.type !== 'environment_variable' || placeholders.has(c.secretName)) continue;
      placeholders.set(c.secretName, `berth_placeholder_${randomBytes(16).toString('hex')}`);
    }
    return new CredentialInjector(vaults, vaultIds, placeholders, log);
  }

  /** The sandbox environment entries: each secret name mapped to its placeholder. */
  env(): Record<string, string> {
    return Object.fromEntries(this.placeholders);
  }

  /** True when there is nothing to inject (no vaults): the proxy then skips the hook. */
  get empty(): boolean {
    return this.vaultIds.length === 0;
  }

  /** Rewrites one allowed plain-HTTP request. `body` is the buffered request body, when it was buffered. */
  async rewrite(req: OutboundRequest, body: Buffer | null): Promise<{ req: OutboundRequest; body: Buffer | null }> {
    const creds = await this.vaults.credentialsForSession(this.vaultIds);
    const headers: OutgoingHttpHeaders = { ...req.headers };
    let out = body;
    const injected: string[] = [];
    for (const c of creds) {
      if (c.type === 'environment_variable') {
        const ph = this.placeholders.get(c.secretName);
        if (!ph || !hostAllowed(c, req.host, req.port)) continue;
        let hit = false;
        if (c.injectionLocation.header) hit = swapHeaders(headers, ph, c.value) || hit;
        if (c.injectionLocation.body && out && out.includes(ph)) {
          out = Buffer.from(out.toString('latin1').split(ph).join(Buffer.from(c.value).toString('latin1')), 'latin1');
          hit = true;
        }
        if (hit) injected.push(c.credentialId);
      } else if (matchesServer(c.mcpServerUrl, req) && !injected.includes('authorization')) {
        headers.authorization = `Bearer ${c.type === 'static_bearer' ? c.token : c.accessToken}`;
        injected.push('authorization', c.credentialId);
      }
    }
    if (injected.length > 0) {
      this.log.info(
        { host: req.host, port: req.port, credentials: injected.filter((x) => x !== 'authorization') },
        'vault credentials injected',
      );
    }
    if (out !== body && out) headers['content-length'] = String(out.length);
    return { req: { ...req, headers }, body: out };
  }

  /** True when a request to `host:port` may carry a body the injector could change (it must then be buffered). */
  wantsBody(): boolean {
    return this.placeholders.size > 0;
  }
}

function hostAllowed(c: Extract<ResolvedCredential, { type: 'environment_variable' }>, host: string, port: number) {
  if (c.networking.type === 'unrestricted') return true;
  return c.networking.allowedHosts.some((entry) => {
    try {
      const rule = parseHostRule(entry);
      // A credential's host list names hosts, not ports: any port of an allowed host.
      return ruleMatches({ ...rule, port }, host, port);
    } catch {
      return false;
    }
  });
}

function swapHeaders(headers: OutgoingHttpHeaders, placeholder: string, value: string): boolean {
  let hit = false;
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v === 'string' && v.includes(placeholder)) {
      headers[k] = v.split(placeholder).join(value);
      hit = true;
    } else if (Array.isArray(v) && v.some((x) => x.includes(placeholder))) {
      headers[k] = v.map((x) => x.split(placeholder).join(value));
      hit = true;
    }
  }
  return hit;
}

/** Same scheme (http), host and port as the MCP server URL, and a path at or below its path. */
function matchesServer(serverUrl: string, req: OutboundRequest): boolean {
  let u: URL;
  try {
    u = new URL(serverUrl);
  } catch {
    return false;
  }
  if (u.protocol !== 'http:') return false;
  const port = u.port ? Number(u.port) : 80;
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host !== req.host || port !== req.port) return false;
  const base = u.pathname.replace(/\/+$/, '');
  const path = req.path.split('?')[0]!;
  return base === '' || path === base || path.startsWith(`${base}/`);
}
