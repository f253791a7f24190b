import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import {
  checkDistinctMounts,
  checkMountPath,
  defaultMountPath,
  gitResource,
  GitRepositoryParamsSchema,
  parseRepositoryUrl,
} from './git.js';
import { parseGitResources } from './git-create.js';

const NOW = '2026-01-01T00:00:00.000Z';
const limited = (allowed: string[]) => ({ type: 'cloud', networking: { type: 'limited', allowed_hosts: allowed } });

describe('github_repository validation', () => {
  it('accepts http(s) URLs with a plain path and derives host, port and the default mount path', () => {
    const u = parseRepositoryUrl('https://GitHub.com/owner/repo.git/');
    expect(u).toMatchObject({ scheme: 'https', host: 'github.com', port: 443, path: '/owner/repo.git' });
    expect(defaultMountPath(u)).toBe('/workspace/repo');
    expect(parseRepositoryUrl('http://10.0.0.5:8080/r')).toMatchObject({ scheme: 'http', port: 8080, path: '/r' });
  });

  it.each([
    ['ssh://git@github.com/o/r.git', /http:\/\/ or https:\/\//],
    ['file:///etc', /http:\/\/ or https:\/\//],
    ['https://user:pw@github.com/o/r', /must not contain credentials/],
    ['https://x-access-token@github.com/o/r', /must not contain credentials/],
    ['https://github.com/o/r?x=1', /query or fragment/],
    ['https://github.com/o/r#main', /query or fragment/],
    ['https://github.com/', /path must name a repository/],
    ['https://github.com/o/r%20x', /path must name a repository/],
    ['not a url', /is not a URL/],
  ])('refuses %s', (url, message) => {
    expect(() => parseRepositoryUrl(url)).toThrow(message);
  });

  it('checks mount paths: absolute, normalised, below /workspace, the home or /tmp', () => {
    expect(checkMountPath('/workspace/app')).toBe('/workspace/app');
    expect(checkMountPath('/home/agent/src/app')).toBe('/home/agent/src/app');
    expect(() => checkMountPath('/workspace')).toThrow(/must be below/);
    expect(() => checkMountPath('/etc/x')).toThrow(/must be below/);
    expect(() => checkMountPath('/run/berth/x')).toThrow(/must be below/);
    expect(() => checkMountPath('workspace/x')).toThrow(/absolute/);
    expect(() => checkMountPath('/workspace/../etc')).toThrow(/normalised/);
    expect(() => checkMountPath('/workspace//x')).toThrow(/normalised/);
    expect(() => checkMountPath('/workspace/x/')).toThrow(/normalised/);
    expect(() => checkMountPath('/workspace/a b')).toThrow(/segments/);
    expect(() => checkDistinctMounts(['/workspace/a', '/workspace/a/b'])).toThrow(/overlap/);
    expect(() => checkDistinctMounts(['/workspace/a', '/workspace/ab'])).not.toThrow();
  });

  it('checks checkouts: a branch name or a full sha (lower-cased)', () => {
    const parse = (checkout: unknown) =>
      GitRepositoryParamsSchema.safeParse({ type: 'github_repository', url: 'https://h.example.com/r', checkout });
    expect(parse({ type: 'branch', name: 'feature/x-1' }).success).toBe(true);
    expect(parse({ type: 'commit', sha: 'A'.repeat(40) }).data?.checkout).toEqual({
      type: 'commit',
      sha: 'a'.repeat(40),
    });
    expect(parse({ type: 'commit', sha: 'b'.repeat(64) }).success).toBe(true);
    expect(parse(null).success).toBe(true);
    for (const name of ['-x', 'a..b', 'a b', 'x.lock', 'a/', '.x', 'a@{1}', 'a//b'])
      expect(parse({ type: 'branch', name }).success, name).toBe(false);
    for (const sha of ['abc', 'g'.repeat(40), 'a'.repeat(41)])
      expect(parse({ type: 'commit', sha }).success, sha).toBe(false);
    expect(parse({ type: 'tag', name: 'v1' }).success).toBe(false);
  });

  it('never stores the token with the resource', () => {
    const { resource } = gitResource(
      { type: 'github_repository', url: 'https://github.com/o/r', authorization_token: 'ghp_secret_value' },
      NOW,
    );
    expect(resource).toMatchObject({ type: 'github_repository', url: 'https://github.com/o/r', checkout: null });
    expect(resource.id).toMatch(/^sesrsc_/);
    expect(JSON.stringify(resource)).not.toContain('ghp_secret_value');
  });

  it('refuses special-range IP literals the environment does not allow, and names the field', () => {
    const entry = (url: string) => [
      { index: 2, value: { type: 'github_repository', url, authorization_token: 't0k' } },
    ];
    const ok = parseGitResources(entry('http://127.0.0.3:9000/r.git'), limited(['127.0.0.3:9000']), NOW);
    expect(ok.resources).toHaveLength(1);
    expect(ok.tokens.get(ok.resources[0]!.id)).toBe('t0k');
    expect(() => parseGitResources(entry('http://127.0.0.3:9001/r.git'), limited(['127.0.0.3:9000']), NOW)).toThrow(
      /body\.resources\[2\].*refused by the environment's egress/,
    );
    expect(() =>
      parseGitResources(
        entry('http://169.254.169.254/r.git'),
        { type: 'cloud', networking: { type: 'unrestricted' } },
        NOW,
      ),
    ).toThrow(ApiError);
    expect(parseGitResources(entry('https://github.com/o/r'), limited([]), NOW).resources).toHaveLength(1);
  });
});
