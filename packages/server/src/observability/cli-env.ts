/** What `--otel-cli` adds to every session. */
export interface CliTelemetry {
  /** Environment for the session's Claude CLI. */
  env: Record<string, string>;
  /** The collector, let through every session's egress policy. */
  operatorTargets: Array<{ url: string; source: string }>;
}

/**
 * The Claude CLI's own OpenTelemetry export (metrics and log events), pointed at berthd's collector. The sandbox
 * has no route but the egress proxy, so the CLI's exporter goes through HTTP(S)_PROXY and the session's policy
 * allows exactly the collector's `host:port`. Export headers are never passed: they usually carry a credential and
 * the sandbox holds none (use a collector that accepts the sandboxes' network without one, or a relay).
 */
export function cliTelemetry(endpoint: string | undefined, enabled: boolean): CliTelemetry | undefined {
  if (!enabled || endpoint === undefined) return undefined;
  return {
    env: {
      CLAUDE_CODE_ENABLE_TELEMETRY: '1',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint.replace(/\/+$/, ''),
    },
    operatorTargets: [{ url: endpoint, source: 'berthd OTLP collector (--otel-cli)' }],
  };
}

/** `key=value,key2=value2` (the OTEL_EXPORTER_OTLP_HEADERS format; values may be percent-encoded). */
export function parseOtlpHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const value = pair.slice(eq + 1).trim();
    let decoded = value;
    try {
      decoded = decodeURIComponent(value);
    } catch {
      // Not percent-encoded after all: use it as written.
    }
    out[pair.slice(0, eq).trim()] = decoded;
  }
  return out;
}
