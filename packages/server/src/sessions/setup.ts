import { randomBytes } from 'node:crypto';
import type { SandboxDriver } from '../drivers/driver.js';
import { CredentialInjector } from '../egress/inject.js';
import { EgressPolicy } from '../egress/policy.js';
import { ApiError } from '../errors.js';
import type { Logger } from '../logger.js';
import { gitResourcesOf } from '../session-resources/git.js';
import type { JsonObject, SessionRecord, Store } from '../store/store.js';
import { VaultSecretError, type VaultService } from '../vaults/service.js';
import { mcpServers } from './run-config.js';

/**
 * What a session's sandbox is set up from, besides the session itself: its driver, its egress policy and its vault
 * credentials. Shared by a new session, a re-adopted one and a resumed one, so all three get the same setup.
 */
export class SessionSetup {
  constructor(
    private readonly store: Store,
    /** The default driver, and every enabled one by name (picked per session by `berth.driver`). */
    private readonly defaultDriver: SandboxDriver,
    private readonly drivers: ReadonlyMap<string, SandboxDriver> | undefined,
    private readonly vaults: VaultService | undefined,
    private readonly logger: Logger,
  ) {}

  /** The enabled driver a session's `berth.driver` names (the API has refused any other); the default when none. */
  driverFor(session: Pick<SessionRecord, 'berth'>): SandboxDriver {
    const name = (session.berth.driver as string | undefined) ?? this.defaultDriver.name;
    const driver = name === this.defaultDriver.name ? this.defaultDriver : this.drivers?.get(name);
    if (driver === undefined)
      throw new ApiError(
        'unsupported_feature',
        `berth.driver '${name}' is not enabled on this server; start berthd with --drivers bwrap,${name}.`,
      );
    return driver;
  }

  /** The egress policy: the environment's networking, plus the agent's MCP servers and the session's repositories. */
  async policyFor(s: Pick<SessionRecord, 'environment_id' | 'resources'>, agent: JsonObject): Promise<EgressPolicy> {
    return EgressPolicy.compile({
      config: (await this.store.getEnvironment(s.environment_id))?.config ?? {},
      mcpServers: mcpServers(agent),
      repositories: gitResourcesOf(s.resources).map((r) => ({ resourceId: r.id, url: r.url })),
    });
  }

  /** The session's vault credentials, injected at egress; refuses (fail closed) when one cannot be decrypted. */
  async injectorFor(session: SessionRecord): Promise<CredentialInjector | undefined> {
    if (!this.vaults || session.vault_ids.length === 0) return undefined;
    try {
      return await CredentialInjector.forSession(
        this.vaults,
        session.vault_ids,
        this.logger.child({ sessionId: session.id, component: 'egress' }),
      );
    } catch (err) {
      if (!(err instanceof VaultSecretError)) throw err;
      throw new ApiError(
        'vault_credential_unusable',
        `${err.message}. Re-create the credential (or restore the vault master key it was sealed with).`,
      );
    }
  }
}

/** A new per-sandbox gateway token (berthd keeps only its hash; the sandbox's CLI sends it as its API key). */
export function newGatewayToken(): string {
  return `bgt_${randomBytes(32).toString('base64url')}`;
}
