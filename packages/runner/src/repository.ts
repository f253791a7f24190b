import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BerthdFrame, RunnerFrame } from '@berth/protocol';
import type { Logger } from './log.js';

type PrepareFrame = Extract<BerthdFrame, { type: 'prepare_repository' }>;
type Prepared = Extract<RunnerFrame, { type: 'repository_prepared' }>;

/** What {@link prepareRepository} needs besides the frame. */
export interface PrepareDeps {
  /** The egress forwarder's URL: git's only way out. */
  proxyUrl: string;
  /** PATH for git. */
  path: string;
  home: string;
  log: Logger;
  /** Longest a git command may run. */
  timeoutMs?: number;
}

const MESSAGE_MAX = 1000;

/**
 * Clones a repository as the sandbox user, through the egress proxy, and checks out the requested branch or commit.
 * Credentials never pass through here: the proxy adds them to git's plain-HTTP requests (ADR
 * git-repository-resources). Never throws: failures become a `repository_prepared` frame with `ok: false`.
 */
export async function prepareRepository(frame: PrepareFrame, deps: PrepareDeps): Promise<Prepared> {
  const base = { type: 'repository_prepared' as const, session_id: frame.session_id, request_id: frame.request_id };
  // Given to git through GIT_CONFIG_* (no parsing of `-c name=value`, whatever a URL contains).
  const config: Array<[string, string]> = [
    // Only smart HTTP(S) through the proxy: no file://, ssh:// or ext:: transports, also not via redirects.
    ['protocol.allow', 'never'],
    ['protocol.http.allow', 'always'],
    ['protocol.https.allow', 'always'],
    ['http.proxy', deps.proxyUrl],
  ];
  if (frame.transport_url) config.push([`url.${frame.transport_url}.insteadOf`, frame.url]);
  const env: Record<string, string> = {
    PATH: deps.path,
    HOME: deps.home,
    LANG: 'C.UTF-8',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_COUNT: String(config.length),
  };
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  const git = (args: string[], cwd?: string) => run(['git', ...args], env, cwd, deps.timeoutMs ?? 600_000);
  try {
    await mkdir(dirname(frame.path), { recursive: true });
  } catch (err) {
    return { ...base, ok: false, phase: 'clone', message: `cannot create ${dirname(frame.path)}: ${String(err)}` };
  }
  const t0 = performance.now();
  const clone = await git(['clone', '-q', ...(frame.checkout ? ['--no-checkout'] : []), '--', frame.url, frame.path]);
  if (clone.code !== 0) return { ...base, ok: false, phase: 'clone', message: tail(clone.stderr) };
  if (frame.transport_url) {
    // Later fetches and pushes by the agent take the same way (the proxy adds the current token).
    const keep = await git(['config', `url.${frame.transport_url}.insteadOf`, frame.url], frame.path);
    if (keep.code !== 0) return { ...base, ok: false, phase: 'clone', message: tail(keep.stderr) };
  }
  const c = frame.checkout;
  if (c) {
    const args =
      c.type === 'branch'
        ? ['checkout', '-q', '-B', c.name, '--track', `refs/remotes/origin/${c.name}`, '--']
        : ['checkout', '-q', '--detach', c.sha, '--'];
    const co = await git(args, frame.path);
    if (co.code !== 0) return { ...base, ok: false, phase: 'checkout', message: tail(co.stderr) };
  }
  const head = await git(['rev-parse', 'HEAD'], frame.path);
  const sha = head.stdout.trim();
  if (head.code !== 0 || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(sha)) {
    return { ...base, ok: false, phase: 'checkout', message: tail(head.stderr) || 'HEAD does not name a commit' };
  }
  deps.log.info('repository prepared', { path: frame.path, head: sha, ms: Math.round(performance.now() - t0) });
  return { ...base, ok: true, head: sha };
}

function tail(stderr: string): string {
  const t = stderr.trim();
  return t.length > MESSAGE_MAX ? `…${t.slice(-MESSAGE_MAX)}` : t;
}

function run(
  argv: string[],
  env: Record<string, string>,
  cwd: string | undefined,
  timeout: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { env, cwd, timeout, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
        const why = e.killed
          ? `git timed out after ${timeout} ms\n`
          : typeof e.code === 'string'
            ? `${e.message}\n`
            : '';
        resolve({ code: typeof e.code === 'number' ? e.code : 1, stdout, stderr: `${stderr}${why}` });
      },
    );
  });
}
