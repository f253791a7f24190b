import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRepo, startGitServer, type GitServer, type RepoFixture } from './git-server.js';
import { logCapture, collectTurn, e2eSkipReason, filesUnder, say, startTestBerth, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

/**
 * github_repository session resources against a real git smart-HTTP server (`git http-backend` behind node:http on
 * 127.0.0.3). The clone runs in the sandbox, through the egress proxy, which adds the token; the sandbox, the API,
 * the events and berthd's log never hold it.
 */
const PREFIX = 'gittok-';
const TOKEN = `${PREFIX}${randomBytes(12).toString('hex')}`;
const ROTATED = `${PREFIX}${randomBytes(12).toString('hex')}`;
const basic = (t: string) => Buffer.from(`x-access-token:${t}`).toString('base64');
const bash = (command: string) => ({ content: [{ type: 'tool_use', name: 'Bash', input: { command } }] });

describe.skipIf(e2eSkipReason() !== false)('github_repository resources cloned in the sandbox', () => {
  let t: TestBerth;
  let git: GitServer;
  let repo: RepoFixture;
  let pub: RepoFixture;
  let agentId: string;
  let envId: string;
  const logs = logCapture();

  beforeAll(async () => {
    git = await startGitServer('127.0.0.3', TOKEN);
    repo = makeRepo(git.root, 'private', 'repo');
    pub = makeRepo(git.root, 'public', 'pub');
    const logStream = logs.stream;
    t = await startTestBerth({
      logStream,
      config: { logLevel: 'debug' },
      scenarios: [
        {
          name: 'git-inspect',
          turns: [
            bash(
              'for d in repo feat pub; do echo "$d=$(git -C /workspace/$d rev-parse HEAD)"; done; ' +
                'echo "branch=$(git -C /workspace/feat rev-parse --abbrev-ref HEAD)"; ' +
                'echo "owner=$(stat -c %u /workspace/repo/README)"; cat /workspace/repo/.git/config',
            ),
            // The prefix is split so that this command's own text (kept in the transcript) does not match.
            bash(
              'P=gittok; echo "matches=$(grep -rsl "$P-" /workspace /home /run/berth /tmp /proc/self/environ | wc -l)"',
            ),
            { content: [{ type: 'text', text: 'Inspected.' }] },
            // The next user message (after the token rotation) continues the same scenario.
            bash('git -C /workspace/repo fetch origin 2>&1; echo "fetch-rc=$?"'),
            { content: [{ type: 'text', text: 'Fetched.' }] },
          ],
        },
      ],
    });
    const agent = await t.client.beta.agents.create({
      name: 'git',
      model: 'claude-sonnet-4-5',
      tools: [{ type: 'agent_toolset_20260401' }],
    });
    const env = await t.client.beta.environments.create({
      name: 'git',
      config: { type: 'cloud', networking: { type: 'limited', allowed_hosts: [`127.0.0.3:${git.port}`] } },
    });
    agentId = agent.id;
    envId = env.id;
  });
  afterAll(async () => {
    await t?.close();
    await git?.close();
  });

  const create = (resources: object[]) =>
    t.client.beta.sessions.create({ agent: agentId, environment_id: envId, resources: resources as never });

  it('checks out the requested commit and branch; the token is added at egress and is nowhere else', async () => {
    const session = await create([
      {
        type: 'github_repository',
        url: `${git.base}/private/repo.git`,
        authorization_token: TOKEN,
        checkout: { type: 'commit', sha: repo.first },
      },
      {
        type: 'github_repository',
        url: `${git.base}/private/repo.git`,
        authorization_token: TOKEN,
        mount_path: '/workspace/feat',
        checkout: { type: 'branch', name: 'feature' },
      },
      { type: 'github_repository', url: `${git.base}/public/pub.git` },
    ]);
    const resources = session.resources as unknown as Array<Record<string, unknown>>;
    expect(resources).toHaveLength(3);
    expect(resources[0]).toMatchObject({
      type: 'github_repository',
      url: `${git.base}/private/repo.git`,
      mount_path: '/workspace/repo',
      checkout: { type: 'commit', sha: repo.first },
    });
    expect(resources[0]!.id).toMatch(/^sesrsc_/);
    expect(resources[2]).toMatchObject({ mount_path: '/workspace/pub', checkout: null });
    for (const r of resources) expect(r).not.toHaveProperty('authorization_token');

    const events = (await collectTurn(t.client, session.id, () =>
      say(t.client, session.id, '[scenario:git-inspect] go'),
    )) as Ev[];
    const results = events.filter((e) => e.type === 'agent.tool_result').map((e) => JSON.stringify(e.content));
    expect(results).toHaveLength(2);
    const [inspect, grep] = results as [string, string];
    expect(inspect).toContain(`repo=${repo.first}`);
    expect(inspect).toContain(`feat=${repo.feature}`);
    expect(inspect).toContain('branch=feature');
    expect(inspect).toContain(`pub=${pub.second}`);
    // Cloned as the sandbox user (uid 1000 inside), not by a host-side git.
    expect(inspect).toContain('owner=1000');
    expect(grep).toContain('matches=0');
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });

    // The server got the token, on the private repository only.
    expect(git.seen.some((s) => s.url.startsWith('/private/') && s.authorization === `Basic ${basic(TOKEN)}`)).toBe(
      true,
    );
    expect(git.seen.filter((s) => s.url.startsWith('/public/')).every((s) => s.authorization === undefined)).toBe(true);

    // The clones went through the session's egress proxy (audited), not around it.
    const audit = (await t.client.get(`/v1/berth/sessions/${session.id}/egress`)) as {
      data: Array<{ method: string; host: string; port: number; decision: string }>;
    };
    expect(
      audit.data.filter((r) => r.host === '127.0.0.3' && r.port === git.port && r.decision === 'allowed').length,
    ).toBeGreaterThanOrEqual(3);

    // Host side: the workspace holds the clones, and no trace of the token anywhere the sandbox could read.
    const s = (await t.client.beta.sessions.retrieve(session.id)) as unknown as { berth: { sandbox: { id: string } } };
    const info = await t.app.driver.inspect(s.berth.sandbox.id);
    expect(readFileSync(join(info!.workspaceDir, 'repo', 'README'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(info!.workspaceDir, 'feat', 'feature.txt'), 'utf8')).toBe('feature\n');
    const files = [info!.workspaceDir, info!.homeDir, join(t.dataDir, 'run', s.berth.sandbox.id)].flatMap((d) =>
      filesUnder(d),
    );
    expect(files.some((f) => f.endsWith('/repo/.git/config'))).toBe(true);
    const api = JSON.stringify([
      await t.client.beta.sessions.retrieve(session.id),
      (await t.client.beta.sessions.list()).data,
      (await t.client.beta.sessions.events.list(session.id, { limit: 1000 })).data,
    ]);
    for (const secret of [TOKEN, basic(TOKEN)]) {
      for (const f of files) expect(readFileSync(f, 'latin1').includes(secret), f).toBe(false);
      expect(api.includes(secret)).toBe(false);
      expect(logs.text().includes(secret)).toBe(false);
    }

    // Token rotation: the server now takes only the new token; the agent's own fetch gets it at egress.
    git.setToken(ROTATED);
    const updated = await t.client.beta.sessions.resources.update(resources[0]!.id as string, {
      session_id: session.id,
      authorization_token: ROTATED,
    });
    expect(updated).toMatchObject({ id: resources[0]!.id, type: 'github_repository' });
    expect(updated).not.toHaveProperty('authorization_token');
    const listed = await t.client.beta.sessions.resources.list(session.id);
    expect(JSON.stringify(listed.data)).toContain(resources[0]!.id as string);
    const fetch = (await collectTurn(t.client, session.id, () => say(t.client, session.id, 'fetch again'))) as Ev[];
    const fetched = fetch.filter((e) => e.type === 'agent.tool_result').map((e) => JSON.stringify(e.content));
    expect(fetched[0]).toContain('fetch-rc=0');
    expect(git.seen.some((x) => x.authorization === `Basic ${basic(ROTATED)}`)).toBe(true);
    expect(logs.text().includes(ROTATED)).toBe(false);
    expect(logs.text()).toContain('repository token replaced');
    await t.client.beta.sessions.delete(session.id);
  });

  /** Creates a session with one repository, waits until it has terminated and returns its session.error. */
  async function failure(resource: object): Promise<Record<string, unknown>> {
    const session = await create([{ type: 'github_repository', ...resource }]);
    const deadline = Date.now() + 60_000;
    while ((await t.client.beta.sessions.retrieve(session.id)).status !== 'terminated') {
      if (Date.now() > deadline) throw new Error('the session did not terminate');
      await new Promise((r) => setTimeout(r, 200));
    }
    const events = (await t.client.beta.sessions.events.list(session.id, { limit: 100 })).data as unknown as Ev[];
    expect(events.at(-1)?.type).toBe('session.status_terminated');
    const err = events.find((e) => e.type === 'session.error')!.error as Record<string, unknown>;
    expect(err.retry_status).toEqual({ type: 'terminal' });
    expect(JSON.stringify(events)).not.toContain(PREFIX);
    await expect(say(t.client, session.id, 'hello')).rejects.toMatchObject({ status: 400 });
    return err;
  }

  it('maps clone failures to the repository session errors', async () => {
    git.setToken(TOKEN);
    const url = `${git.base}/private/repo.git`;
    expect(await failure({ url, authorization_token: `${PREFIX}wrong` })).toMatchObject({
      type: 'repository_authentication_error',
      repository_url: url,
    });
    expect(await failure({ url })).toMatchObject({ type: 'repository_authentication_error' });
    const missing = `${git.base}/private/missing.git`;
    expect(await failure({ url: missing, authorization_token: TOKEN })).toMatchObject({
      type: 'repository_not_found_error',
      repository_url: missing,
    });
    expect(await failure({ url: `${git.base}/forbidden/repo.git` })).toMatchObject({
      type: 'repository_forbidden_error',
    });
    const badSha = await failure({
      url,
      authorization_token: TOKEN,
      checkout: { type: 'commit', sha: 'a'.repeat(40) },
    });
    expect(badSha).toMatchObject({ type: 'repository_checkout_error', repository_url: url });
    expect(String(badSha.message)).toContain('a'.repeat(40));
    expect(
      await failure({ url, authorization_token: TOKEN, checkout: { type: 'branch', name: 'nope' } }),
    ).toMatchObject({ type: 'repository_checkout_error' });
    expect(logs.text().includes(TOKEN)).toBe(false);
  });

  it('refuses bad resources at create with a 400 that says what to fix', async () => {
    const bad = async (resource: object, message: RegExp) => {
      await expect(create([{ type: 'github_repository', ...resource }])).rejects.toMatchObject({ status: 400 });
      await create([{ type: 'github_repository', ...resource }]).catch((e: { message: string }) =>
        expect(e.message).toMatch(message),
      );
    };
    await bad({ url: `ssh://git@127.0.0.3/x.git` }, /http:\/\/ or https:\/\//);
    await bad({ url: `http://user:pw@127.0.0.3:${git.port}/private/repo.git` }, /must not contain credentials/);
    await bad({ url: `${git.base}/private/repo.git`, mount_path: '/etc/repo' }, /must be below/);
    await bad({ url: `${git.base}/private/repo.git`, mount_path: '/workspace/../etc' }, /normalised/);
    await bad({ url: `${git.base}/private/repo.git`, checkout: { type: 'commit', sha: 'abc' } }, /full commit sha/);
    // Another loopback port is not in the environment's allowed_hosts.
    await bad({ url: `http://127.0.0.3:1/private/repo.git` }, /refused by the environment's egress/);
    // A file resource is checked against the Files API: an unknown file is a 404.
    await expect(create([{ type: 'file', file_id: 'file_x' }])).rejects.toMatchObject({ status: 404 });
  });
});
