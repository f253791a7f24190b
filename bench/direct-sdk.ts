import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { query, type SDKUserMessage } from '@anthropic-ai/claude-agent-sdk';

/**
 * The baseline for B2/B3: the Claude Agent SDK's `query()` run directly on the host (no sandbox, no Berth) against
 * the same scripted model, with the same switches Berth's runner uses.
 */
export interface DirectRun {
  /** ms from calling query() to the model receiving the first request (filled by the caller's request hook). */
  start: number;
  /** ms from calling query() to the result message. */
  total: number;
}

export async function runDirect(
  modelUrl: string,
  apiKey: string,
  prompt: string,
  maxTurns = 20,
): Promise<{ started: number; ended: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-direct-'));
  const started = performance.now();
  let ended = 0;
  async function* input(): AsyncGenerator<SDKUserMessage> {
    yield { type: 'user', message: { role: 'user', content: prompt }, parent_tool_use_id: null, session_id: '' };
  }
  try {
    const q = query({
      prompt: input(),
      options: {
        cwd: dir,
        settingSources: [],
        maxTurns,
        permissionMode: 'bypassPermissions',
        allowDangerouslySkipPermissions: true,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: dir,
          CLAUDE_CONFIG_DIR: join(dir, '.claude'),
          ANTHROPIC_BASE_URL: modelUrl,
          ANTHROPIC_API_KEY: apiKey,
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          IS_SANDBOX: '1',
          CLAUDE_CODE_MAX_RETRIES: '0',
        },
      },
    });
    for await (const m of q) {
      if (m.type === 'result') {
        ended = performance.now();
        break;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { started, ended };
}
