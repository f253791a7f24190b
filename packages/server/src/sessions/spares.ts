import { randomUUID } from 'node:crypto';
import { newId, type SessionRunConfig } from '@berth/protocol';
import { hashToken } from '../gateway/gateway.js';
import type { Logger } from '../logger.js';
import { toSandboxResources } from '../resources.js';
import type { JsonObject, Store } from '../store/store.js';
import { SessionRuntime, type RuntimeCallbacks, type RuntimeDeps } from './runtime.js';
import { newGatewayToken, type SessionSetup } from './setup.js';
import type { Spare, SparePort, Template } from './warm-pool.js';

/** What a spare's runtime reports to, before and after a session takes it over. */
class Relay implements RuntimeCallbacks {
  target: RuntimeCallbacks | undefined;
  constructor(
    private readonly spare: () => Spare | undefined,
    private readonly onSpareLost: (spare: Spare) => void,
    private readonly log: Logger,
  ) {}
  onEvent(frame: Parameters<RuntimeCallbacks['onEvent']>[0]): Promise<void> {
    if (this.target) return this.target.onEvent(frame);
    // An agent with no session yet has nothing to say; an event here would have no history to go to.
    this.log.warn({ type: frame.event.type }, 'warm spare emitted an event before any session took it; dropped');
    return Promise.resolve();
  }
  welcome(): ReturnType<RuntimeCallbacks['welcome']> {
    if (this.target) return this.target.welcome();
    return Promise.resolve({ type: 'welcome', sessions: [] });
  }
  onLost(reason: string): void {
    if (this.target) return this.target.onLost(reason);
    const s = this.spare();
    this.log.warn({ reason }, 'warm spare lost before use');
    if (s) this.onSpareLost(s);
  }
  onAgentReady(): void {
    const s = this.spare();
    if (s) s.agentReady = true;
    this.target?.onAgentReady();
  }
}

/** Builds the run config of a session or a spare (the service's, so both agree to the byte). */
export type RunConfigBuilder = (agent: JsonObject, token: string, sdkSessionId: string) => SessionRunConfig;

/** The fingerprint that decides whether a spare fits a session: its run config without per-sandbox secrets and ids. */
export function templateKey(build: RunConfigBuilder, agent: JsonObject): string {
  const c = build(agent, 'x'.repeat(32), '00000000-0000-4000-8000-000000000000');
  return JSON.stringify({ ...c, gateway_token: null, sdk_session_id: null });
}

/**
 * Makes and discards the warm pool's spares: a sandbox started like a session's (same driver, resources, egress
 * policy and run config), under ids chosen here, with nothing stored until a session takes it over.
 */
export class SpareFactory implements SparePort {
  private readonly relays = new WeakMap<Spare, Relay>();

  constructor(
    private readonly store: Store,
    private readonly setup: SessionSetup,
    private readonly deps: RuntimeDeps,
    private readonly build: RunConfigBuilder,
    private readonly logger: Logger,
    /** Told when a spare's sandbox dies before a session took it. */
    private readonly onLost: (spare: Spare) => void,
  ) {}

  async make(environmentId: string, template: Template): Promise<Spare | undefined> {
    const env = await this.store.getEnvironment(environmentId);
    if (!env || env.archived_at) return undefined;
    const agent = template.agent as JsonObject;
    const driver = this.setup.driverFor(env);
    const policy = await this.setup.policyFor({ environment_id: environmentId, resources: [] }, agent);
    const token = newGatewayToken();
    const sdkSessionId = randomUUID();
    const sessionId = newId('session');
    const sandboxId = newId('sandbox');
    const holder: { spare?: Spare } = {};
    const log = this.logger.child({ spare: sessionId, environmentId });
    const relay = new Relay(() => holder.spare, this.onLost, log);
    const runtime = new SessionRuntime(
      sessionId,
      sandboxId,
      hashToken(token),
      this.build(agent, token, sdkSessionId),
      { policy, rewriter: undefined },
      { ...this.deps, driver },
      relay,
    );
    const spare: Spare = {
      environmentId,
      key: template.key,
      sessionId,
      sandboxId,
      tokenHash: hashToken(token),
      sdkSessionId,
      runtime,
      agentReady: false,
    };
    holder.spare = spare;
    this.relays.set(spare, relay);
    try {
      await runtime.start(toSandboxResources(env.berth.resources));
    } catch (err) {
      await runtime.destroy().catch(() => undefined);
      throw err;
    }
    log.info({ sandboxId }, 'warm spare started');
    return spare;
  }

  /** Hands a spare's runtime over to its session: from now on its frames go to the session's callbacks. */
  bind(spare: Spare, callbacks: RuntimeCallbacks): void {
    const relay = this.relays.get(spare);
    if (!relay) throw new Error('not a spare of this factory');
    relay.target = callbacks;
  }

  async discard(spare: Spare): Promise<void> {
    await spare.runtime.destroy().catch((err: unknown) => {
      this.logger.warn({ err, sandboxId: spare.sandboxId }, 'destroying a warm spare failed');
    });
  }
}
