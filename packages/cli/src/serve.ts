import type { Command } from 'commander';
import {
  CONFIG_FIELDS,
  createLogger,
  kebab,
  loadConfig,
  startBerth,
  type BerthApp,
  type BerthConfig,
  type ConfigKey,
} from '@berth/server';

/** Adds one option per config field, generated from the schema (descriptions included). */
export function addConfigOptions(cmd: Command): Command {
  for (const [key, field] of Object.entries(CONFIG_FIELDS)) {
    const desc = `${field.schema.description ?? ''} [env ${field.env}]`;
    const isBool = key === 'scriptedModel';
    cmd.option(isBool ? `--${kebab(key)}` : `--${kebab(key)} <value>`, desc);
  }
  return cmd;
}

/** The config from the environment plus the flags given on the command line. */
export function configFromFlags(flags: Record<string, unknown>, env: Record<string, string | undefined>): BerthConfig {
  const overrides: Partial<Record<ConfigKey, unknown>> = {};
  for (const key of Object.keys(CONFIG_FIELDS) as ConfigKey[])
    if (flags[key] !== undefined) overrides[key] = flags[key];
  return loadConfig(env, overrides);
}

/** Starts berthd and stops it cleanly on SIGINT/SIGTERM. */
export async function serve(config: BerthConfig, print: (l: string) => void): Promise<BerthApp> {
  // Logs are JSON lines on stderr; stdout is for what the command prints to its user.
  const app = await startBerth(config, {
    logger: createLogger(config.logLevel, process.stderr),
    onAdminKeyGenerated: (key, file) => {
      print(`Generated the admin API key (shown once; also saved to ${file}):\n\n  ${key}\n`);
    },
  });
  print(
    `berthd listening on ${app.url} (data dir ${config.dataDir}, model: ${config.scriptedModel ? 'scripted' : config.upstreamUrl})`,
  );
  if (app.previewUrl) print(`port previews served at ${app.previewUrl} (hosts <port>-<session>.<domain>)`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    print(`${signal}: shutting down`);
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return app;
}
