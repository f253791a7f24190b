import net from 'node:net';
import { ApiError } from '../errors.js';
import { EgressPolicy } from '../egress/policy.js';
import { specialRange } from '../egress/ranges.js';
import { parseInput } from '../api/validate.js';
import {
  checkDistinctMounts,
  gitResource,
  GitRepositoryParamsSchema,
  GitResourceError,
  type GitRepositoryResource,
} from './git.js';

/** The github_repository resources of a session create request, checked, and their tokens apart. */
export interface GitResourcesInput {
  resources: GitRepositoryResource[];
  /** resource id -> token, for the resources that gave one. Kept in memory only. */
  tokens: Map<string, string>;
}

/**
 * Validates the `github_repository` entries of `sessions.create({resources})` (`entries` holds only those, with
 * their index in the request for error messages). An IP-literal host in a special range (loopback, private, …) must
 * be allowed by the environment's `allowed_hosts`, as for any egress; host names are checked when the proxy
 * resolves them. Throws a 400 that names the entry and says what to change.
 */
export function parseGitResources(
  entries: Array<{ index: number; value: unknown }>,
  envConfig: Record<string, unknown>,
  now: string,
): GitResourcesInput {
  const resources: GitRepositoryResource[] = [];
  const tokens = new Map<string, string>();
  const policy = EgressPolicy.compile({ config: envConfig, mcpServers: [] });
  for (const { index, value } of entries) {
    const where = `body.resources[${index}]`;
    const params = parseInput(GitRepositoryParamsSchema, value, where);
    try {
      const { resource, repo } = gitResource(params, now);
      if (net.isIP(repo.host) !== 0 && specialRange(repo.host) !== null) {
        const d = policy.decide(repo.host, repo.port);
        if (!d.allowed) throw new GitResourceError(`its host is refused by the environment's egress: ${d.reason}`);
      }
      resources.push(resource);
      if (params.authorization_token !== undefined) tokens.set(resource.id, params.authorization_token);
    } catch (err) {
      if (!(err instanceof GitResourceError)) throw err;
      throw new ApiError('invalid_request', `Invalid ${where}: ${err.message}.`);
    }
  }
  try {
    checkDistinctMounts(resources.map((r) => r.mount_path));
  } catch (err) {
    if (!(err instanceof GitResourceError)) throw err;
    throw new ApiError('invalid_request', `Invalid body.resources: ${err.message}.`);
  }
  return { resources, tokens };
}
