import { posix } from 'node:path';
import { newId, SANDBOX_PATHS, type RepositoryCheckout } from '@berth/protocol';
import { z } from 'zod';
import type { GitRoute } from '../egress/git-auth.js';
import { normaliseHost } from '../egress/policy.js';

/**
 * `github_repository` session resources: any git repository over HTTP(S), cloned inside the sandbox at session
 * start (docs/adr/git-repository-resources.md). This module owns the request shape, its validation and the stored /
 * wire object; the clone itself is the runner's (`prepare_repository`), the credential the egress proxy's
 * (`egress/git-auth.ts`).
 */

/** Writable places a repository may be cloned to (strictly below one of them). */
export const MOUNT_ROOTS: readonly string[] = [SANDBOX_PATHS.workspace, SANDBOX_PATHS.home, '/tmp'];

/** A git ref name as `git check-ref-format --branch` accepts it, minus the rarely used corners. */
const BRANCH = /^(?!-)(?!.*\.\.)(?!.*@\{)(?!.*\/\/)(?!.*\/\.)(?!\.)(?!.*\.lock$)(?!.*[/.]$)[A-Za-z0-9._/+-]+$/;

const CheckoutSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('branch'),
    name: z
      .string()
      .min(1)
      .max(255)
      .regex(BRANCH, "must be a branch name such as 'main' or 'feature/x' (no '..', spaces or leading '-')"),
  }),
  z.strictObject({
    type: z.literal('commit'),
    sha: z
      .string()
      .regex(/^[0-9a-fA-F]{40}([0-9a-fA-F]{24})?$/, 'must be a full commit sha (40 hex digits, or 64 for SHA-256)')
      .transform((s) => s.toLowerCase()),
  }),
]);

/** The create parameter (§5: url, authorization_token?, checkout?, mount_path?). */
export const GitRepositoryParamsSchema = z.strictObject({
  type: z.literal('github_repository'),
  url: z.string().min(1).max(2048),
  authorization_token: z
    .string()
    .min(1)
    .max(4096)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  checkout: CheckoutSchema.nullable().optional(),
  mount_path: z.string().min(1).max(1024).nullable().optional(),
});
export type GitRepositoryParams = z.infer<typeof GitRepositoryParamsSchema>;

/** The token update (`POST /v1/sessions/{id}/resources/{rid}`). */
export const GitTokenUpdateSchema = z.strictObject({
  authorization_token: z
    .string()
    .min(1)
    .max(4096)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
});

/** The stored and wire form of the resource. Never holds the token. */
export type GitRepositoryResource = {
  id: string;
  type: 'github_repository';
  url: string;
  mount_path: string;
  checkout: RepositoryCheckout | null;
  created_at: string;
  updated_at: string;
};

/** A problem with a request, worded for the API user. */
export class GitResourceError extends Error {}

/** A checked repository URL: http(s), a host, a path, nothing else. */
export interface RepositoryUrl {
  url: URL;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** The path without a trailing slash, e.g. `/owner/repo.git`. */
  path: string;
}

/** Parses and checks a repository URL; throws {@link GitResourceError} with the reason. */
export function parseRepositoryUrl(raw: string): RepositoryUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GitResourceError(`url '${clip(raw)}' is not a URL; use e.g. https://github.com/owner/repo`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GitResourceError(`url must be http:// or https:// (git over HTTP), not ${url.protocol}//`);
  }
  if (url.username || url.password) {
    throw new GitResourceError('url must not contain credentials; pass the token as authorization_token instead');
  }
  if (url.search || url.hash || raw.includes('?') || raw.includes('#')) {
    throw new GitResourceError('url must not have a query or fragment');
  }
  const host = normaliseHost(url.hostname);
  if (host === null) throw new GitResourceError(`url host '${clip(url.hostname)}' is not a host name or IP address`);
  const path = url.pathname.replace(/\/+$/, '');
  const segments = path.split('/').slice(1);
  if (segments.length === 0 || segments.some((s) => !/^[A-Za-z0-9._~-]+$/.test(s) || s === '.' || s === '..')) {
    throw new GitResourceError(
      "url path must name a repository with plain segments (letters, digits, '.', '_', '~', '-'), e.g. /owner/repo",
    );
  }
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  return { url, scheme, host, port, path };
}

/** `/workspace/<repo name>`: the last path segment without `.git`. */
export function defaultMountPath(u: RepositoryUrl): string {
  const last = u.path
    .split('/')
    .pop()!
    .replace(/\.git$/, '');
  if (!/^[A-Za-z0-9._~-]+$/.test(last) || last === '.' || last === '..') {
    throw new GitResourceError(`url '${u.url.href}' has no usable repository name; give mount_path explicitly`);
  }
  return `${SANDBOX_PATHS.workspace}/${last}`;
}

/** Checks a mount path: absolute, normalised, plain segments, strictly below one of {@link MOUNT_ROOTS}. */
export function checkMountPath(p: string): string {
  const norm = posix.normalize(p).replace(/\/+$/, '');
  if (!p.startsWith('/') || norm !== p || p.split('/').some((s) => s === '..' || s === '.')) {
    throw new GitResourceError(`mount_path '${clip(p)}' must be an absolute, normalised path without '.' or '..'`);
  }
  if (
    !p
      .split('/')
      .slice(1)
      .every((s) => /^[A-Za-z0-9._~+@-]+$/.test(s))
  ) {
    throw new GitResourceError(`mount_path '${clip(p)}' may use letters, digits and . _ ~ + @ - in its segments`);
  }
  if (!MOUNT_ROOTS.some((r) => p.startsWith(`${r}/`))) {
    throw new GitResourceError(`mount_path '${clip(p)}' must be below ${MOUNT_ROOTS.join(', ')}`);
  }
  return p;
}

/** Builds the stored resource; the token (if any) is returned apart, never stored with it. */
export function gitResource(
  params: GitRepositoryParams,
  now: string,
): { resource: GitRepositoryResource; repo: RepositoryUrl } {
  const repo = parseRepositoryUrl(params.url);
  const mount = checkMountPath(params.mount_path ?? defaultMountPath(repo));
  return {
    repo,
    resource: {
      id: newId('sessionResource'),
      type: 'github_repository',
      url: repo.url.href.replace(/\/+$/, ''),
      mount_path: mount,
      checkout: params.checkout ?? null,
      created_at: now,
      updated_at: now,
    },
  };
}

/** Two resources must not share or nest mount paths (one clone would land inside another). */
export function checkDistinctMounts(paths: string[]): void {
  for (const [i, a] of paths.entries()) {
    for (const b of paths.slice(i + 1)) {
      if (a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`)) {
        throw new GitResourceError(`mount paths '${a}' and '${b}' overlap; give each repository its own mount_path`);
      }
    }
  }
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

/** The github_repository resources among a session's stored resources. */
export function gitResourcesOf(resources: readonly unknown[]): GitRepositoryResource[] {
  return resources.filter(
    (r): r is GitRepositoryResource =>
      typeof r === 'object' && r !== null && (r as { type?: unknown }).type === 'github_repository',
  );
}

/** The egress route of a stored resource (its URL was checked when it was created). */
export function gitRoute(r: GitRepositoryResource): GitRoute {
  const u = parseRepositoryUrl(r.url);
  return { resourceId: r.id, url: r.url, scheme: u.scheme, host: u.host, port: u.port, path: u.path };
}
