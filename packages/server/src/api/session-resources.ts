import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ApiError } from '../errors.js';
import { prepareAddedResource, storedResources, type StoredResource } from '../session-resources/index.js';
import { GitTokenUpdateSchema } from '../session-resources/git.js';
import type { SessionRecord } from '../store/store.js';
import { checkId, limit } from './common.js';
import type { RouteModule } from './context.js';
import { storeOf, loadSession } from './tenancy.js';
import { parseInput } from './validate.js';

const SessionParams = z.object({ id: z.string() });
const ResourceParams = z.object({ id: z.string(), rid: z.string() });
const ListQuery = z.object({
  limit: limit(1000, 20),
  page: z
    .string()
    .regex(/^\d{1,4}$/, 'pass next_page as returned')
    .optional(),
});

/**
 * `/v1/sessions/{id}/resources[/{rid}]`: list, retrieve, add (`file`), update (a `github_repository`'s
 * `authorization_token`), delete. Resources are kept in the
 * session's `resources` (so the session object shows them); changes to one session are serialised in this process.
 * A resource added or deleted after the sandbox started changes the record, not the running sandbox: its mounts
 * are fixed when it starts (docs/api.md says so).
 */
export const sessionResourceRoutes: RouteModule = (app, { sessions, clock }) => {
  const locks = new Map<string, Promise<unknown>>();
  const serialised = <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const run = (locks.get(id) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    locks.set(id, tail);
    void tail.then(() => locks.get(id) === tail && locks.delete(id));
    return run;
  };
  const load = async (req: FastifyRequest, id: string): Promise<SessionRecord> => {
    checkId('session', 'sesn_', id);
    return loadSession(req, id);
  };
  const find = (s: SessionRecord, rid: string): StoredResource => {
    const r = storedResources(s.resources).find((x) => x.id === rid);
    if (!r)
      throw new ApiError(
        'not_found',
        `Session '${s.id}' has no resource '${rid.slice(0, 128)}'. List its resources to find the id.`,
      );
    return r;
  };
  const writable = (s: SessionRecord): void => {
    if (s.archived_at) throw new ApiError('session_archived', `Session '${s.id}' is archived and read-only.`);
  };

  app.get('/v1/sessions/:id/resources', async (req) => {
    const { id } = parseInput(SessionParams, req.params, 'path');
    const q = parseInput(ListQuery, req.query, 'query');
    const all = storedResources((await load(req, id)).resources);
    const start = q.page === undefined ? 0 : Number(q.page);
    const end = start + q.limit;
    return { data: all.slice(start, end), next_page: end < all.length ? String(end) : null };
  });

  app.get('/v1/sessions/:id/resources/:rid', async (req) => {
    const { id, rid } = parseInput(ResourceParams, req.params, 'path');
    return find(await load(req, id), rid);
  });

  app.post('/v1/sessions/:id/resources', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(SessionParams, req.params, 'path');
    return serialised(id, async () => {
      const s = await load(req, id);
      writable(s);
      const current = storedResources(s.resources);
      if (current.length >= 100) throw new ApiError('invalid_request', 'A session holds at most 100 resources.');
      if ((req.body as { type?: unknown } | null)?.type === 'github_repository') {
        throw new ApiError(
          'unsupported_feature',
          'github_repository resources can only be given at session create (the reference adds file resources only).',
        );
      }
      const r = await prepareAddedResource(req.body ?? {}, current, { store, clock });
      await store.updateSession(id, { resources: [...s.resources, r], updated_at: clock() });
      return r;
    });
  });

  app.post('/v1/sessions/:id/resources/:rid', async (req) => {
    const { id, rid } = parseInput(ResourceParams, req.params, 'path');
    const s = await load(req, id);
    const r = find(s, rid);
    if (r.type === 'github_repository') {
      writable(s);
      const b = parseInput(GitTokenUpdateSchema, req.body ?? {});
      return serialised(id, () => sessions.updateRepositoryToken(id, rid, b.authorization_token));
    }
    throw new ApiError(
      'invalid_request',
      `Resource '${r.id}' is a ${r.type} resource; only github_repository resources take an update (authorization_token).`,
    );
  });

  app.delete('/v1/sessions/:id/resources/:rid', async (req) => {
    const store = storeOf(req);
    const { id, rid } = parseInput(ResourceParams, req.params, 'path');
    return serialised(id, async () => {
      const s = await load(req, id);
      writable(s);
      const r = find(s, rid);
      // A repository's clone stays in the workspace; its token goes, so the egress proxy adds it no more.
      if (r.type === 'github_repository') sessions.dropRepositoryToken(id, rid);
      const rest = s.resources.filter(
        (x) => !(typeof x === 'object' && x !== null && !Array.isArray(x) && x.id === rid),
      );
      await store.updateSession(id, { resources: rest, updated_at: clock() });
      return { id: rid, type: 'session_resource_deleted' };
    });
  });
};
