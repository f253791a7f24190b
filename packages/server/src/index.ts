export { startBerth, INSTALL_DIR, RUNNER_ENTRY, type BerthApp, type StartOptions } from './app.js';
export { loadConfig, CONFIG_FIELDS, ConfigError, kebab, type BerthConfig, type ConfigKey } from './config.js';
export { createLogger, type Logger } from './logger.js';
export { BwrapDriver } from './drivers/bwrap/index.js';
export type { SandboxDriver } from './drivers/driver.js';
export { createCgroupManagerSync } from './drivers/cgroups/index.js';
