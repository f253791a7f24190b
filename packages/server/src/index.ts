export { startBerth, INSTALL_DIR, RUNNER_ENTRY, type BerthApp, type StartOptions } from './app.js';
export { loadConfig, CONFIG_FIELDS, ConfigError, kebab, type BerthConfig, type ConfigKey } from './config.js';
export { createLogger, type Logger } from './logger.js';
export { BwrapDriver } from './drivers/bwrap/index.js';
export { GvisorDriver } from './drivers/gvisor/index.js';
export type { SandboxDriver } from './drivers/driver.js';
export { createCgroupManagerSync } from './drivers/cgroups/index.js';
// Internals exposed for benchmarks (bench/) that time one component in isolation.
export { SessionRuntime } from './sessions/runtime.js';
export { SnapshotStore } from './blobs/snapshots.js';
export { ModelGateway } from './gateway/gateway.js';
export { EgressProxy } from './egress/proxy.js';
export { EgressAudit } from './egress/audit.js';
export { EgressPolicy } from './egress/policy.js';
export { buildRunConfig } from './sessions/run-config.js';
export { openSqlite } from './store/open.js';
