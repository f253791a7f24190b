import { inspect } from 'node:util';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import type { Store, VaultCredentialRecord } from '../store/store.js';
import { VaultCipher, VaultCryptoError, credentialAad, type SealedSecret } from './crypto.js';

/** The secret fields of a credential, as sealed together in one ciphertext. Never leaves berthd. */
export const CredentialSecretsSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('static_bearer'), token: z.string() }),
  z.strictObject({ type: z.literal('environment_variable'), value: z.string() }),
  z.strictObject({
    type: z.literal('mcp_oauth'),
    access_token: z.string(),
    refresh_token: z.string().optional(),
    client_secret: z.string().optional(),
  }),
]);
export type CredentialSecrets = z.infer<typeof CredentialSecretsSchema>;

interface ResolvedBase {
  credentialId: string;
  vaultId: string;
}

/** Add `Authorization: Bearer <token>` to requests for `mcpServerUrl`. */
export interface ResolvedStaticBearer extends ResolvedBase {
  type: 'static_bearer';
  mcpServerUrl: string;
  token: string;
}

/**
 * The sandbox sees `secretName` set to a placeholder only; the egress proxy swaps the placeholder for `value` on
 * the way out, only in the parts `injectionLocation` allows and only to hosts `networking` allows (`unrestricted`:
 * any host the environment's network policy permits; `limited`: exact hosts, or `*.example.com` for any subdomain
 * but not the apex).
 */
export interface ResolvedEnvironmentVariable extends ResolvedBase {
  type: 'environment_variable';
  secretName: string;
  value: string;
  injectionLocation: { header: boolean; body: boolean };
  networking: { type: 'unrestricted' } | { type: 'limited'; allowedHosts: string[] };
}

/** Add `Authorization: Bearer <accessToken>` to requests for `mcpServerUrl`. Berth does not refresh tokens yet. */
export interface ResolvedMcpOAuth extends ResolvedBase {
  type: 'mcp_oauth';
  mcpServerUrl: string;
  accessToken: string;
  /** RFC 3339, or null when unknown. */
  expiresAt: string | null;
  refresh: null | {
    clientId: string;
    tokenEndpoint: string;
    tokenEndpointAuth:
      { type: 'none' } | { type: 'client_secret_basic' | 'client_secret_post'; clientSecret: string | undefined };
    refreshToken: string | undefined;
    resource: string | null;
    scope: string | null;
  };
}

/** A decrypted credential, ready for the egress layer. Its secrets are hidden from JSON.stringify and inspect. */
export type ResolvedCredential = ResolvedStaticBearer | ResolvedEnvironmentVariable | ResolvedMcpOAuth;

/** Thrown when a stored secret cannot be decrypted or parsed; the message never contains secret data. */
export class VaultSecretError extends Error {}

/**
 * Seals credential secrets for the store and opens them again for the egress layer. The one place that holds the
 * vault cipher; built in the composition root (app.ts).
 */
export class VaultService {
  constructor(
    private readonly store: Store,
    private readonly cipher: VaultCipher,
    private readonly logger: Logger,
  ) {}

  /** Id of the master key new secrets are sealed with (public). */
  get keyId(): string {
    return this.cipher.currentKeyId;
  }

  /** Seals the secret fields of credential `credentialId` (bound to that id by the AAD). */
  seal(credentialId: string, secrets: CredentialSecrets): SealedSecret {
    return this.cipher.seal(JSON.stringify(secrets), credentialAad(credentialId));
  }

  /** Opens a credential's sealed secret. Throws VaultSecretError when it is purged, unreadable or malformed. */
  open(c: VaultCredentialRecord): CredentialSecrets {
    if (!c.secret) throw new VaultSecretError(`credential ${c.id} has no secret (it is archived)`);
    let text: string;
    try {
      text = this.cipher.open(c.secret, credentialAad(c.id));
    } catch (err) {
      const why = err instanceof VaultCryptoError ? err.message : 'decryption failed';
      throw new VaultSecretError(`credential ${c.id} cannot be decrypted: ${why}`);
    }
    const parsed = CredentialSecretsSchema.safeParse(JSON.parse(text));
    if (!parsed.success || parsed.data.type !== c.auth.type) {
      throw new VaultSecretError(`credential ${c.id} holds a secret of the wrong shape`);
    }
    return parsed.data;
  }

  /**
   * The decrypted credentials of a session's vaults, for the egress proxy. Reads the store on every call, so
   * archiving or deleting a vault or credential revokes it for running sessions too.
   *
   * Order: vaults in the order given (the session's `vault_ids`, first = highest priority when two vaults have a
   * credential for the same MCP server URL or variable name), then each vault's credentials oldest first. Vaults that
   * no longer exist or are archived, and archived credentials, are skipped. Fails closed: a credential that cannot
   * be decrypted throws VaultSecretError rather than being dropped silently.
   */
  async credentialsForSession(vaultIds: readonly string[]): Promise<ResolvedCredential[]> {
    const out: ResolvedCredential[] = [];
    for (const vaultId of vaultIds) {
      const vault = await this.store.getVault(vaultId);
      if (!vault || vault.archived_at) continue;
      for (const c of await this.store.activeCredentials(vaultId)) {
        try {
          out.push(hideSecrets(this.resolve(c)));
        } catch (err) {
          this.logger.error({ vaultId, credentialId: c.id, err: (err as Error).message }, 'vault credential unusable');
          throw err;
        }
      }
    }
    return out;
  }

  private resolve(c: VaultCredentialRecord): ResolvedCredential {
    const s = this.open(c);
    const base = { credentialId: c.id, vaultId: c.vault_id };
    switch (s.type) {
      case 'static_bearer':
        return { ...base, type: 'static_bearer', mcpServerUrl: c.auth.mcp_server_url as string, token: s.token };
      case 'environment_variable': {
        const a = c.auth as unknown as EnvAuth;
        return {
          ...base,
          type: 'environment_variable',
          secretName: a.secret_name,
          value: s.value,
          injectionLocation: { header: a.injection_location.header, body: a.injection_location.body },
          networking:
            a.networking.type === 'limited'
              ? { type: 'limited', allowedHosts: [...(a.networking.allowed_hosts ?? [])] }
              : { type: 'unrestricted' },
        };
      }
      case 'mcp_oauth': {
        const a = c.auth as unknown as OAuthAuth;
        const r = a.refresh;
        return {
          ...base,
          type: 'mcp_oauth',
          mcpServerUrl: a.mcp_server_url,
          accessToken: s.access_token,
          expiresAt: a.expires_at ?? null,
          refresh: r
            ? {
                clientId: r.client_id,
                tokenEndpoint: r.token_endpoint,
                tokenEndpointAuth:
                  r.token_endpoint_auth.type === 'none'
                    ? { type: 'none' }
                    : { type: r.token_endpoint_auth.type, clientSecret: s.client_secret },
                refreshToken: s.refresh_token,
                resource: r.resource ?? null,
                scope: r.scope ?? null,
              }
            : null,
        };
      }
    }
  }
}

interface EnvAuth {
  secret_name: string;
  injection_location: { header: boolean; body: boolean };
  networking: { type: 'unrestricted' | 'limited'; allowed_hosts?: string[] };
}
interface OAuthAuth {
  mcp_server_url: string;
  expires_at?: string | null;
  refresh: null | {
    client_id: string;
    token_endpoint: string;
    token_endpoint_auth: { type: 'none' | 'client_secret_basic' | 'client_secret_post' };
    resource?: string | null;
    scope?: string | null;
  };
}

const SECRET_KEYS = new Set(['token', 'value', 'accessToken', 'refreshToken', 'clientSecret']);

/** Replaces secret fields by '[redacted]' in JSON.stringify and util.inspect output (a guard against a stray log). */
function hideSecrets<T extends object>(o: T): T {
  const redacted = (v: unknown): unknown =>
    v && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v).map(([k, x]) => [k, SECRET_KEYS.has(k) && x !== undefined ? '[redacted]' : redacted(x)]),
        )
      : v;
  Object.defineProperty(o, 'toJSON', { value: () => redacted(o), enumerable: false });
  Object.defineProperty(o, inspect.custom, { value: () => redacted(o), enumerable: false });
  return o;
}
