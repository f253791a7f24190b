import type { Server } from 'node:http';
import type { BerthConfig } from '../config.js';
import { ConfigError } from '../config.js';
import type { SandboxDriver } from '../drivers/driver.js';
import { OtlpRelay } from '../gateway/otlp-relay.js';
import type { Logger } from '../logger.js';
import { cliTelemetryEnv, parseOtlpHeaders } from './cli-env.js';
import { startMetricsServer } from './http.js';
import { Observability } from './index.js';

/** What the composition root wires from the observability config. */
export interface ObservabilitySetup {
  observability: Observability;
  /** The gateway's relay for the CLI's telemetry (`--otel-cli`), else undefined. */
  otlpRelay: OtlpRelay | undefined;
  /** Environment every session's CLI gets for `--otel-cli`, else undefined. */
  cliEnv: Record<string, string> | undefined;
}

/** Builds the observer, the tracer (when an OTLP endpoint is set) and the CLI telemetry relay from the config. */
export function setUpObservability(
  config: BerthConfig,
  drivers: ReadonlyMap<string, SandboxDriver>,
  logger: Logger,
): ObservabilitySetup {
  const headers = parseOtlpHeaders(config.otlpHeaders);
  const endpoint = config.otlpEndpoint?.replace(/\/+$/, '');
  const observability = new Observability({
    readUsage: async (name, sandboxId) => drivers.get(name)?.stats(sandboxId),
    tracing: endpoint ? { endpoint, headers, serviceName: config.otelServiceName } : undefined,
    logger: logger.child({ component: 'observability' }),
  });
  const cliEnv = cliTelemetryEnv(endpoint, config.otelCli);
  return { observability, otlpRelay: cliEnv && endpoint ? new OtlpRelay(endpoint, headers) : undefined, cliEnv };
}

/** Starts the key-less metrics listener of `--metrics-port`, if configured; a port it cannot take is a config error. */
export async function listenMetrics(
  config: BerthConfig,
  observability: Observability,
  logger: Logger,
): Promise<Server | undefined> {
  if (config.metricsPort === undefined) return undefined;
  try {
    return await startMetricsServer(config.metricsHost, config.metricsPort, observability.metrics, logger);
  } catch (err) {
    throw new ConfigError(
      `The metrics listener cannot listen on ${config.metricsHost}:${config.metricsPort} (${(err as Error).message}): choose another --metrics-port or --metrics-host.`,
    );
  }
}
