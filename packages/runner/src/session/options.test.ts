import { RUN_CONFIG_DEFAULTS } from '../test-support/fixtures.js';
import { describe, expect, it } from 'vitest';
import type { SessionRunConfig } from '@berth/protocol';
import { buildQueryOptions } from './options.js';

const config: SessionRunConfig = {
  model: 'claude-sonnet-4-5',
  system: 'Be brief.',
  max_turns: 7,
  cwd: '/workspace',
  home: '/home/agent',
  config_dir: '/home/agent/.claude-sesn',
  gateway_token: 'gw_0123456789abcdef',
  sdk_session_id: '3f1c2a4e-8d7b-4c1a-9e2f-0a1b2c3d4e5f',
  resume: false,
  allowed_tools: null,
  disallowed_tools: ['WebSearch'],
  ...RUN_CONFIG_DEFAULTS,
  env: {
    CLAUDE_CODE_MAX_RETRIES: '0',
    ANTHROPIC_BASE_URL: 'http://evil',
    PATH: '/opt/tools:/usr/bin',
    HTTPS_PROXY: 'http://evil:1',
    NO_PROXY: '*',
  },
};
const base = {
  sessionId: 'sesn_01J00000000000000000000000',
  config,
  baseUrl: 'http://127.0.0.1:4000',
  proxyUrl: 'http://127.0.0.1:4001',
  path: '/usr/bin:/bin',
  resume: false,
  tmpDir: '/tmp/berth-cc-x',
  abortController: new AbortController(),
  spawnClaudeCodeProcess: () => {
    throw new Error('unused');
  },
};

describe('buildQueryOptions', () => {
  it('builds a complete CLI env in which Berth-controlled entries win over config.env', () => {
    const o = buildQueryOptions(base);
    expect(o.env).toEqual({
      PATH: '/opt/tools:/usr/bin',
      HOME: '/home/agent',
      CLAUDE_CODE_TMPDIR: '/tmp/berth-cc-x',
      CLAUDE_CODE_MAX_RETRIES: '0',
      HTTP_PROXY: 'http://127.0.0.1:4001',
      HTTPS_PROXY: 'http://127.0.0.1:4001',
      http_proxy: 'http://127.0.0.1:4001',
      https_proxy: 'http://127.0.0.1:4001',
      NO_PROXY: 'localhost,127.0.0.1,::1',
      no_proxy: 'localhost,127.0.0.1,::1',
      CLAUDE_CONFIG_DIR: '/home/agent/.claude-sesn',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:4000',
      ANTHROPIC_API_KEY: 'gw_0123456789abcdef',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      BERTH_SESSION_ID: 'sesn_01J00000000000000000000000',
    });
  });

  it("points the CLI's own telemetry at the model forwarder with the session token when berthd turned it on", () => {
    const on = { ...base, config: { ...config, env: { ...config.env, CLAUDE_CODE_ENABLE_TELEMETRY: '1' } } };
    expect(buildQueryOptions(on).env).toMatchObject({
      CLAUDE_CODE_ENABLE_TELEMETRY: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4000',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=gw_0123456789abcdef',
      OTEL_RESOURCE_ATTRIBUTES: 'berth.session_id=sesn_01J00000000000000000000000',
    });
    // A session's env cannot send the export anywhere else.
    const elsewhere = {
      ...on,
      config: { ...on.config, env: { ...on.config.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' } },
    };
    expect(buildQueryOptions(elsewhere).env!.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://127.0.0.1:4000');
    expect(Object.keys(buildQueryOptions(base).env!).some((k) => k.startsWith('OTEL_'))).toBe(false);
  });

  it('maps the run config onto SDK options', () => {
    const o = buildQueryOptions(base);
    expect(o).toMatchObject({
      cwd: '/workspace',
      settingSources: [],
      settings: { skipWebFetchPreflight: true },
      maxTurns: 7,
      model: 'claude-sonnet-4-5',
      systemPrompt: 'Be brief.',
      sessionId: config.sdk_session_id,
      includePartialMessages: true,
      permissionMode: 'bypassPermissions',
      allowDangerouslySkipPermissions: true,
      disallowedTools: ['WebSearch'],
    });
    expect(o.resume).toBeUndefined();
    expect(o.tools).toBeUndefined();
  });

  it('resumes instead of naming a new session, restricts tools, and leaves the default prompt for null', () => {
    const o = buildQueryOptions({
      ...base,
      resume: true,
      config: { ...config, system: null, allowed_tools: ['Bash'] },
    });
    expect(o.resume).toBe(config.sdk_session_id);
    expect(o.sessionId).toBeUndefined();
    expect(o.tools).toEqual(['Bash']);
    expect('systemPrompt' in o).toBe(false);
  });
});
