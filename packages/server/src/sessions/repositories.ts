import type { BerthdFrame, RunnerFrame, SessionErrorType } from '@berth/protocol';
import { GitAuthRewriter, transportUrl } from '../egress/git-auth.js';
import type { RequestRewriter } from '../egress/proxy.js';
import type { Logger } from '../logger.js';
import { gitRoute, type GitRepositoryResource } from '../session-resources/git.js';

/** Longest a repository clone may take at session start. */
export const CLONE_TIMEOUT_MS = 10 * 60_000;

type PrepareFrame = Extract<BerthdFrame, { type: 'prepare_repository' }>;
type Answer = Extract<RunnerFrame, { type: 'repository_prepared' }>;

/** One repository the runner clones before the session's agent starts. */
export interface RepositoryJob {
  resourceId: string;
  /** The repository URL as the resource shows it (`repository_url` of a failure). */
  url: string;
  frame: Omit<PrepareFrame, 'type' | 'session_id' | 'request_id'>;
  /** Longest berthd waits for the runner's answer. */
  timeoutMs: number;
}

/** Why a session could not start: a repository could not be cloned or checked out. */
export class RepositoryPrepareFailure extends Error {
  constructor(
    readonly job: RepositoryJob,
    /** The runner's answer; null when none came (timeout, disconnect). */
    readonly answer: Answer | null,
    detail?: string,
  ) {
    super(detail ?? answer?.message ?? 'the repository could not be prepared');
  }
}

/** The `session.error` a failure becomes. */
export interface RepositoryErrorBody {
  type: Extract<SessionErrorType, `repository_${string}`>;
  message: string;
  repository_url: string;
}

/**
 * Classifies a failure. A checkout step that failed is a checkout error; a clone is classified by what the
 * repository server answered through the proxy (401, 403, 404), not by git's wording, which varies by version and
 * server. Anything else (no route, egress refusal, timeout, a server error) is a clone error, with git's message.
 */
export function repositoryError(f: RepositoryPrepareFailure, upstreamStatuses: readonly number[]): RepositoryErrorBody {
  const url = f.job.url;
  const git = f.message ? ` git said: ${f.message}` : '';
  if (f.answer?.phase === 'checkout') {
    const c = f.job.frame.checkout;
    const what = c?.type === 'branch' ? `branch '${c.name}'` : c?.type === 'commit' ? `commit ${c.sha}` : 'HEAD';
    return {
      type: 'repository_checkout_error',
      repository_url: url,
      message: `The repository ${url} was cloned, but ${what} could not be checked out.${git} Check the checkout (a branch that exists, or a full sha reachable from a branch) and create a new session.`,
    };
  }
  const last = [...upstreamStatuses].reverse().find((s) => s === 401 || s === 403 || s === 404);
  if (last === 401) {
    return {
      type: 'repository_authentication_error',
      repository_url: url,
      message: `The repository server refused the credentials for ${url} (HTTP 401). Pass a valid authorization_token (needed for private repositories) and create a new session.`,
    };
  }
  if (last === 403) {
    return {
      type: 'repository_forbidden_error',
      repository_url: url,
      message: `The repository server denied access to ${url} (HTTP 403). Use a token that may read this repository and create a new session.`,
    };
  }
  if (last === 404) {
    return {
      type: 'repository_not_found_error',
      repository_url: url,
      message: `The repository ${url} was not found (HTTP 404). Check the URL (a private repository without a valid token may also look missing) and create a new session.`,
    };
  }
  return {
    type: 'repository_clone_error',
    repository_url: url,
    message: `The repository ${url} could not be cloned into ${f.job.frame.path}.${git} If the server was not reached, the egress audit (GET /v1/berth/sessions/{id}/egress) says why.`,
  };
}

/**
 * A session's repository plumbing: the egress rewriter (repository tokens around the vault injector, which it wraps)
 * and the clone jobs for the runtime. Without repositories, the injector alone.
 */
export function repositorySetup<R extends RequestRewriter>(
  repos: readonly GitRepositoryResource[],
  injector: R | undefined,
  deps: { token: (resourceId: string) => string | undefined; log: Logger; timeoutMs: number },
): { rewriter: GitAuthRewriter | R | undefined; jobs: RepositoryJob[]; gitAuth?: GitAuthRewriter } {
  if (repos.length === 0) return { rewriter: injector, jobs: [] };
  const routes = repos.map(gitRoute);
  const gitAuth = new GitAuthRewriter(routes, deps.token, deps.log, injector);
  const jobs = repos.map((r, i) => ({
    resourceId: r.id,
    url: r.url,
    frame: { url: r.url, transport_url: transportUrl(routes[i]!), path: r.mount_path, checkout: r.checkout },
    timeoutMs: deps.timeoutMs,
  }));
  return { rewriter: gitAuth, jobs, gitAuth };
}
