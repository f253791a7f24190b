import { inlineFileSources } from './files/sources.js';
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { newId } from '@berth/protocol';
import { builtinScenarios, loadScenarioDir, startScriptedModel, type ScriptedModel } from '@berth/scripted-model';
import type { FastifyInstance } from 'fastify';
import { resolveAdminKey, keyChecker } from './admin-key.js';
import { TenantBudgets } from './budget/tenant-budget.js';
import { keyResolver } from './tenants/auth.js';
import { systemClock } from './api/common.js';
import { buildHttpApi } from './api/http.js';
import { ConfigError, type BerthConfig } from './config.js';
import { BwrapDriver } from './drivers/bwrap/index.js';
import { GvisorDriver } from './drivers/gvisor/index.js';
import { createCgroupManagerSync } from './drivers/cgroups/index.js';
import type { SandboxDriver } from './drivers/driver.js';
import { EgressAudit } from './egress/audit.js';
import { EgressProxy } from './egress/proxy.js';
import { loadSandboxTrust, sandboxTrustEnv } from './egress/trust.js';
import { ModelGateway, type Upstream } from './gateway/gateway.js';
import { createLogger, type Logger } from './logger.js';
import { listenMetrics, setUpObservability } from './observability/setup.js';
import { PreviewService } from './previews/service.js';
import { EventLog } from './sessions/event-log.js';
import { SessionService } from './sessions/service.js';
import { reconcile } from './sessions/reconcile.js';
import { SnapshotStore } from './blobs/snapshots.js';
import { ArtifactStore } from './blobs/artifacts.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';
import { VaultCipher } from './vaults/crypto.js';
import { loadMasterKey } from './vaults/master-key.js';
import { VaultService } from './vaults/service.js';
import { FileBlobs } from './files/blobs.js';
import { sandboxFilesOf } from './session-resources/index.js';
import { startWebhooks } from './webhooks/index.js';
import { loadPriceTable } from './budget/price-file.js';
import { SandboxMeter } from './ledger/sandbox-meter.js';
import { sessionObservers } from './ledger/observers.js';
import { buildTriggers } from './triggers/index.js';

/** The Berth installation root (the repository or package root that holds packages/runner). */
export const INSTALL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const RUNNER_ENTRY = 'packages/runner/dist/runner.cjs';

export interface BerthApp {
  /** Base URL of the API, e.g. http://127.0.0.1:7400. */
  url: string;
  adminKey: string;
  config: BerthConfig;
  store: Store;
  logger: Logger;
  http: FastifyInstance;
  /** The scripted model when it is the upstream. */
  scriptedModel: ScriptedModel | undefined;
  /** The default (bwrap) driver. */
  driver: SandboxDriver;
  /** Vault secrets: `vaults.credentialsForSession(session.vault_ids)` gives the egress layer decrypted credentials. */
  vaults: VaultService;
  /** Every enabled driver by name (`--drivers`), the default one included. */
  drivers: ReadonlyMap<string, SandboxDriver>;
  /** The session service (e.g. `updateRepositoryToken`, for the session resources routes and tests). */
  sessions: SessionService;
  /** The event log every session event goes through (the fan-out benchmark appends through it). */
  eventLog: EventLog;
  /** Base URL of the unauthenticated metrics listener (`--metrics-port`), when there is one. */
  metricsUrl: string | undefined;
  /** Base URL of the preview listener (`--preview-port`), when previews are on. */
  previewUrl: string | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Called once when a new admin key was generated (the CLI prints it). */
  onAdminKeyGenerated?: (key: string, file: string) => void;
}

/**
 * The composition root: builds every component from the config, wires them, and starts serving. Nothing else
 * constructs long-lived components.
 */
export async function startBerth(config: BerthConfig, opts: StartOptions = {}): Promise<BerthApp> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  await mkdir(config.dataDir, { recursive: true, mode: 0o711 });
  // Search-only for others: sandbox uids must traverse to their own directories below (else the driver has to
  // stage every bind through a private mount namespace); every file here is owner-only or owned by the sandbox.
  await chmod(config.dataDir, 0o711);
  try {
    await access(join(INSTALL_DIR, RUNNER_ENTRY));
  } catch {
    throw new ConfigError(
      `The runner bundle ${join(INSTALL_DIR, RUNNER_ENTRY)} is missing. Run \`npm run build\` first.`,
    );
  }
  const longestSocket = join(config.dataDir, 'run', `${newId('sandbox')}`, 'control.sock');
  if (Buffer.byteLength(longestSocket) > 107) {
    throw new ConfigError(
      `The data dir path is too long for unix sockets (${longestSocket} exceeds 107 bytes): choose a shorter --data-dir.`,
    );
  }
  // A bad price file is a configuration error: found before anything (an admin key, the store) is created.
  const prices = await loadPriceTable(config);
  const adminKey = await resolveAdminKey(
    config.dataDir,
    config.adminKey,
    opts.onAdminKeyGenerated ?? (() => undefined),
  );
  // Before the store opens: a bad key configuration should stop berthd before it touches anything.
  const vaultKey = await loadMasterKey(
    { dataDir: config.dataDir, key: config.vaultMasterKey, keyFile: config.vaultMasterKeyFile },
    logger.child({ component: 'vaults' }),
  );
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const cipher = new VaultCipher(vaultKey);
  const vaults = new VaultService(store, cipher, logger.child({ component: 'vaults' }));
  const files = new FileBlobs(join(config.dataDir, 'files'));
  await files.init();

  let scriptedModel: ScriptedModel | undefined;
  let upstream: Upstream;
  if (config.scriptedModel) {
    const scenarios = [...builtinScenarios()];
    for (const dir of config.scenarios) scenarios.push(...(await loadScenarioDir(resolve(dir))));
    // The scripted model demands a key like the real API does, so the gateway's key swap is exercised offline too.
    const apiKey = config.anthropicApiKey ?? `sk-berth-scripted-${randomBytes(16).toString('hex')}`;
    scriptedModel = await startScriptedModel({
      scenarios,
      apiKey,
      logger: logger.child({ component: 'scripted-model' }),
    });
    upstream = { url: scriptedModel.url, apiKey };
  } else {
    if (!config.anthropicApiKey) throw new ConfigError('ANTHROPIC_API_KEY is required unless --scripted-model is on.');
    upstream = { url: config.upstreamUrl.replace(/\/+$/, ''), apiKey: config.anthropicApiKey };
  }

  const cgroups = createCgroupManagerSync();
  const driver = new BwrapDriver({
    sandboxesDir: join(config.dataDir, 'sandboxes'),
    logger: logger.child({ component: 'driver' }),
    cgroups,
    uidRange: { start: config.uidRangeStart, count: config.uidRangeCount },
    bwrapPath: config.bwrapPath,
  });
  const drivers = new Map<string, SandboxDriver>([[driver.name, driver]]);
  const gvisor = config.drivers.includes('gvisor')
    ? new GvisorDriver({
        sandboxesDir: join(config.dataDir, 'sandboxes-gvisor'),
        logger: logger.child({ component: 'driver' }),
        cgroups,
        uidRange: { start: config.gvisorUidRangeStart, count: config.uidRangeCount },
        runscPath: config.runscPath,
      })
    : undefined;
  if (gvisor) drivers.set(gvisor.name, gvisor);
  // Sweeps the workspace disks of gVisor sandboxes a crashed berthd never recorded, before any session starts.
  gvisor?.warmUp().catch((err: unknown) => logger.warn({ err }, 'gvisor driver start-up failed'));
  // Pre-place a launcher in its cgroup now, so the first session does not pay the kernel's cgroup-move delay.
  driver.warmUp().catch((err: unknown) => logger.warn({ err }, 'launcher pool warm-up failed'));

  const { observability, otlpRelay, cliEnv: cliOtelEnv } = setUpObservability(config, drivers, logger);
  const tenantBudgets = new TenantBudgets(store, prices);
  const gateway = new ModelGateway(
    upstream,
    store,
    logger.child({ component: 'gateway' }),
    observability,
    otlpRelay,
    prices,
    tenantBudgets,
  );
  const meter = new SandboxMeter({
    store,
    stats: async (name, sandboxId) => drivers.get(name)?.stats(sandboxId),
    intervalMs: config.sandboxUsageSampleS * 1000,
    logger: logger.child({ component: 'ledger' }),
  });
  const trust = config.sandboxCaFile ? await loadSandboxTrust(config.sandboxCaFile) : undefined;
  const egressLog = logger.child({ component: 'egress' });
  const egressAudit = new EgressAudit(store, egressLog, systemClock, observability);
  const egress = new EgressProxy({ audit: egressAudit, logger: egressLog });
  const eventLog = new EventLog(store, systemClock, logger);
  const previews =
    config.previewPort === undefined
      ? undefined
      : new PreviewService(
          {
            host: config.previewHost,
            port: config.previewPort,
            publicUrl: config.previewPublicUrl,
            idleTimeoutMs: config.previewIdleTimeoutS * 1000,
            maxTunnelsPerSession: config.previewMaxConnections,
            openTimeoutMs: 10_000,
          },
          logger.child({ component: 'previews' }),
        );
  const webhooks = startWebhooks(config, store, cipher, eventLog, logger.child({ component: 'webhooks' }));
  const snapshots = new SnapshotStore(join(config.dataDir, 'blobs', 'snapshots'));
  const sessions = new SessionService(
    store,
    eventLog,
    {
      driver,
      drivers,
      gateway,
      egress,
      trust,
      logger: logger.child({ component: 'sessions' }),
      runRoot: join(config.dataDir, 'run'),
      installDir: INSTALL_DIR,
      runnerEntry: RUNNER_ENTRY,
      readyTimeoutMs: config.runnerReadyTimeoutMs,
      logLevel: config.logLevel,
      observer: observability,
      tunnels: previews?.hub,
    },
    systemClock,
    logger.child({ component: 'sessions' }),
    {
      maxTurns: config.maxTurns,
      maxSessions: config.maxSessions,
      modelMaxRetries: config.modelMaxRetries,
      sessionEnv: { ...(trust ? sandboxTrustEnv() : {}), ...cliOtelEnv },
      vaults,
      sandboxFiles: (s) => sandboxFilesOf(s.resources, files),
      resolveContent: (content) => inlineFileSources(content, { store, blobs: files }),
      observer: sessionObservers(observability, meter),
      snapshots,
      artifacts: new ArtifactStore(join(config.dataDir, 'blobs', 'artifacts')),
    },
  );
  observability?.metrics.watchWarmPool(() => sessions.pool.totals());
  const reconciled = await reconcile(
    drivers,
    driver.name,
    store,
    eventLog,
    sessions,
    logger.child({ component: 'sessions' }),
    snapshots,
  );
  if (reconciled.adopted + reconciled.lost + reconciled.removed + reconciled.hibernated > 0)
    logger.info(reconciled, 'start-up reconciliation');
  await configureWarmPools(store, sessions);
  const { triggers, triggerHooks, scheduler } = buildTriggers({ store, sessions, cipher, config, logger });
  const http = buildHttpApi({
    config,
    triggers,
    triggerHooks,
    store,
    sessions,
    eventLog,
    vaults,
    drivers: Object.fromEntries([...drivers].map(([name, d]) => [name, d.capabilities])),
    sandboxDrivers: drivers,
    files,
    logger,
    clock: systemClock,
    prices,
    tenantBudgets,
    authenticate: keyResolver(store, keyChecker(adminKey), systemClock),
    observability,
    previews,
    webhooks,
    ready: async () => {
      const problems: string[] = [];
      await store.ping().catch((err: unknown) => problems.push(`store: ${(err as Error).message}`));
      for (const [name, d] of drivers) problems.push(...(await d.check()).map((p) => `${name}: ${p}`));
      return { ok: problems.length === 0, problems };
    },
  });
  await http.listen({ host: config.host, port: config.port });
  const metricsServer = await listenMetrics(config, observability, logger).catch(async (err: unknown) => {
    await http.close();
    throw err;
  });
  await previews?.listen().catch(async (err: unknown) => {
    await http.close();
    if (metricsServer) await closeServer(metricsServer);
    throw err;
  });
  const url = urlOf(config.host, http.server.address(), config.port);
  // After the sessions can take messages: overdue schedule triggers fire now, once each.
  await scheduler.start();
  logger.info(
    { url, dataDir: config.dataDir, upstream: config.scriptedModel ? 'scripted' : upstream.url },
    'berthd ready',
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    adminKey,
    config,
    store,
    logger,
    http,
    scriptedModel,
    driver,
    vaults,
    drivers,
    sessions,
    eventLog,
    metricsUrl: metricsServer && urlOf(config.metricsHost, metricsServer.address()),
    previewUrl: previews?.url,
    close() {
      closing ??= (async () => {
        const steps: Array<[string, () => Promise<unknown>]> = [
          ['http', () => http.close()],
          ['trigger scheduler', () => scheduler.stop()],
          ['metrics listener', async () => metricsServer && (await closeServer(metricsServer))],
          ['preview listener', async () => previews?.close()],
          // Turns get until the deadline; then each session follows its pattern (persistent ones keep running).
          [
            'sessions',
            () =>
              sessions.shutdown({
                deadlineMs: config.shutdownDeadlineS * 1000,
                stopSandboxes: config.stopSandboxesOnExit,
              }),
          ],
          ['warm pool', () => sessions.pool.close()],
          // After the sessions, which wrote their last sandbox intervals as they stopped.
          ['usage meter', () => meter.close()],
          ['drivers', () => Promise.all([...drivers.values()].map(async (d) => d.close?.()))],
          // After the sessions, whose last events queue deliveries; before the store.
          ['webhooks', () => webhooks.close()],
          ['gateway', () => gateway.close()],
          ['egress audit', () => egressAudit.flush()],
          // After the sessions: their open turn spans end when they stop, and are flushed here.
          ['tracing', () => observability.close()],
          ['scripted model', async () => scriptedModel?.close()],
          ['store', () => store.close()],
        ];
        // Every step runs even if an earlier one fails, so a stuck sandbox cannot leave the store open.
        for (const [name, step] of steps) {
          await step().catch((err: unknown) => logger.error({ err }, `shutdown: closing the ${name} failed`));
        }
      })();
      return closing;
    },
  };
}

/** `http://host:port` of a listening server (IPv6 hosts bracketed). */
function urlOf(host: string, addr: string | AddressInfo | null, fallbackPort = 0): string {
  const port = typeof addr === 'object' && addr ? addr.port : fallbackPort;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Every environment's warm pool size, as stored (the pools fill once their environment's first session shows the agent). */
async function configureWarmPools(store: Store, sessions: SessionService): Promise<void> {
  let page: string | undefined;
  do {
    const p = await store.listEnvironments({ limit: 200, page, includeArchived: false });
    for (const e of p.data) {
      const size = (e.berth.warm_pool as { size?: number } | undefined)?.size ?? 0;
      if (size > 0) sessions.warmPoolChanged(e.id, size);
    }
    page = p.next ?? undefined;
  } while (page);
}
