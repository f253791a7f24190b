/**
 * Environment that turns on the Claude CLI's own OpenTelemetry export (metrics and log events) in every session
 * (`--otel-cli`), or undefined when it is off. Only the switches: the runner points the exporter at its model
 * forwarder (berthd's gateway relays to the collector, see gateway/otlp-relay.ts), because the CLI's exporter
 * ignores HTTP(S)_PROXY and the sandbox has no other route. No collector URL or header reaches the sandbox.
 */
export function cliTelemetryEnv(endpoint: string | undefined, enabled: boolean): Record<string, string> | undefined {
  if (!enabled || endpoint === undefined) return undefined;
  return { CLAUDE_CODE_ENABLE_TELEMETRY: '1', OTEL_METRICS_EXPORTER: 'otlp', OTEL_LOGS_EXPORTER: 'otlp' };
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
