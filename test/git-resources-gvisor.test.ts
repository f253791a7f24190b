import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, startGitServer, type GitServer, type RepoFixture } from './git-server.js';
import { gvisorTestConfig, collectTurn, e2eSkipReason, say, startTestBerth, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

/** The same clone in a gVisor sandbox: the guest's git (the host's /usr, mirrored) talks to the egress proxy too. */
const TOKEN = `gittok-${randomBytes(12).toString('hex')}`;

function skipReason(): string | false {
  const e2e = e2eSkipReason();
  if (e2e !== false) return e2e;
  return existsSync('/usr/bin/runsc') || existsSync('/usr/local/bin/runsc') ? false : 'runsc not installed';
}
const reason = skipReason();

describe.skipIf(reason !== false)(`github_repository on the gVisor driver${reason ? ` (${reason})` : ''}`, () => {
  let t: TestBerth;
  let git: GitServer;
  let repo: RepoFixture;

  beforeAll(async () => {
    git = await startGitServer('127.0.0.4', TOKEN);
    repo = makeRepo(git.root, 'private', 'repo');
    t = await startTestBerth({
      scenarios: [
        {
          name: 'git-gvisor',
          turns: [
            {
              content: [
                { type: 'tool_use', name: 'Bash', input: { command: 'git -C /workspace/code rev-parse HEAD' } },
              ],
            },
            { content: [{ type: 'text', text: 'Done.' }] },
          ],
        },
      ],
      config: {
        ...gvisorTestConfig(620_000),
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    await git?.close();
  });

  it('clones at the requested commit inside the gVisor guest', async () => {
    const { client } = t;
    const agent = await client.beta.agents.create({
      name: 'g',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = (await client.post('/v1/environments', {
      body: {
        name: 'gvisor-git',
        config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: [`127.0.0.4:${git.port}`] } },
        berth: { driver: 'gvisor' },
      },
    })) as { id: string };
    const session = await client.beta.sessions.create({
      agent: agent.id,
      environment_id: env.id,
      resources: [
        {
          type: 'github_repository',
          url: `${git.base}/private/repo.git`,
          authorization_token: TOKEN,
          mount_path: '/workspace/code',
          checkout: { type: 'commit', sha: repo.first },
        },
      ],
    });
    const events = (await collectTurn(
      client,
      session.id,
      () => say(client, session.id, '[scenario:git-gvisor] go'),
      120_000,
    )) as Ev[];
    const result = events.find((e) => e.type === 'agent.tool_result');
    expect(JSON.stringify(result?.content)).toContain(repo.first);
    expect(git.seen.some((s) => s.authorization?.startsWith('Basic '))).toBe(true);
    expect(JSON.stringify(events)).not.toContain(TOKEN);
    await client.beta.sessions.delete(session.id);
  }, 150_000);
});
