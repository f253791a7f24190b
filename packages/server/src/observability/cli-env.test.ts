import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.js';
import { cliTelemetryEnv, parseOtlpHeaders } from './cli-env.js';
import { parentFrom } from './tracing.js';

describe('--otel-cli', () => {
  it('is off unless both the flag and an endpoint are set', () => {
    expect(cliTelemetryEnv(undefined, true)).toBeUndefined();
    expect(cliTelemetryEnv('http://10.0.0.5:4318', false)).toBeUndefined();
  });

  it('turns the CLI exporters on without giving the sandbox the collector URL', () => {
    const env = cliTelemetryEnv('http://10.0.0.5:4318', true)!;
    expect(env).toEqual({
      CLAUDE_CODE_ENABLE_TELEMETRY: '1',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'otlp',
    });
    expect(JSON.stringify(env)).not.toContain('10.0.0.5');
  });
});

describe('OTLP settings', () => {
  it('reads the standard OTEL_* variables and refuses what cannot work', () => {
    const c = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20x',
      OTEL_SERVICE_NAME: 'berthd-eu',
      BERTH_OTEL_CLI: '1',
    });
    expect(c).toMatchObject({ otlpEndpoint: 'http://collector:4318', otelServiceName: 'berthd-eu', otelCli: true });
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector' })).toThrow(/http:\/\/ or https:\/\//);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' })).toThrow(/key=value/);
    expect(() => loadConfig({ BERTH_OTEL_CLI: 'true' })).toThrow(ConfigError);
    expect(() => loadConfig({ BERTH_OTEL_CLI: 'true' })).toThrow(/--otlp-endpoint/);
  });

  it('parses OTEL_EXPORTER_OTLP_HEADERS, percent-decoding values', () => {
    expect(parseOtlpHeaders('authorization=Bearer%20abc,x-tenant=t1')).toEqual({
      authorization: 'Bearer abc',
      'x-tenant': 't1',
    });
    expect(parseOtlpHeaders(undefined)).toEqual({});
  });

  it('continues a valid traceparent and ignores malformed or all-zero ones', () => {
    const ctx = parentFrom('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(trace.getSpanContext(ctx)).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    });
    for (const bad of [
      undefined,
      'garbage',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    ])
      expect(trace.getSpanContext(parentFrom(bad))).toBeUndefined();
  });
});
