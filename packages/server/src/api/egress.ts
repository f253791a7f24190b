import { z } from 'zod';
import { notFound } from '../errors.js';
import type { EgressAuditRecord } from '../store/store.js';
import { checkId, limit } from './common.js';
import type { RouteModule } from './context.js';
import { storeOf } from './tenancy.js';
import { parseInput } from './validate.js';

const Params = z.object({ id: z.string() });
const Query = z.strictObject({
  limit: limit(1000, 100),
  page: z.string().max(2048).optional(),
  decision: z.enum(['allowed', 'denied']).optional(),
});

/** The wire form of one audited egress decision. */
export function serializeEgress(r: EgressAuditRecord): object {
  return { type: 'egress_decision', ...r };
}

/**
 * Berth's egress audit (`/v1/berth/...`, outside the Managed Agents vocabulary): every decision the session's
 * egress proxy made, oldest first, with its rule, reason and byte counts.
 */
export const egressRoutes: RouteModule = (app) => {
  app.get('/v1/berth/sessions/:id/egress', async (req) => {
    const store = storeOf(req);
    const { id } = parseInput(Params, req.params, 'path');
    const q = parseInput(Query, req.query, 'query');
    checkId('session', 'sesn_', id);
    if (!(await store.getSession(id))) throw notFound('session', id);
    const page = await store.listEgress(id, { limit: q.limit, page: q.page, decision: q.decision });
    return { data: page.data.map(serializeEgress), next_page: page.next };
  });
};
