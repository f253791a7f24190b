import { z } from 'zod';
import { usageGroupWire } from '../ledger/costs.js';
import { limit } from './common.js';
import type { RouteModule } from './context.js';
import { parseInput } from './validate.js';
import { storeOf } from './tenancy.js';

/** A range bound: an RFC 3339 timestamp, or a date (`YYYY-MM-DD`, midnight UTC). */
const bound = z
  .union([z.iso.datetime({ offset: true }), z.iso.date()], {
    error: 'must be an RFC 3339 timestamp (2026-01-31T00:00:00Z) or a date (2026-01-31)',
  })
  .transform((v) => new Date(v.length === 10 ? `${v}T00:00:00Z` : v).toISOString());
const id = z.string().min(1).max(128);

const Query = z
  .strictObject({
    group_by: z.enum(['session', 'agent', 'environment', 'tenant', 'day']).default('session'),
    from: bound.optional(),
    to: bound.optional(),
    session_id: id.optional(),
    agent_id: id.optional(),
    environment_id: id.optional(),
    limit: limit(1000, 100),
    page: z.string().max(2048).optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, {
    message: '`from` must be before `to` (the range is from <= time < to)',
    path: ['from'],
  });

/**
 * `GET /v1/berth/usage`: the usage ledger summed per session, agent, environment, tenant or UTC day, over a time
 * range, with costs at the prices in force. Groups come in ascending key order, a page at a time.
 */
export const usageRoutes: RouteModule = (app, { prices }) => {
  app.get('/v1/berth/usage', async (req) => {
    const q = parseInput(Query, req.query, 'query');
    // The tenant-scoped store sums only the caller's tenant.
    const page = await storeOf(req).usageGroups({
      groupBy: q.group_by,
      from: q.from,
      to: q.to,
      sessionId: q.session_id,
      agentId: q.agent_id,
      environmentId: q.environment_id,
      limit: q.limit,
      page: q.page,
    });
    return {
      type: 'usage_report',
      group_by: q.group_by,
      from: q.from ?? null,
      to: q.to ?? null,
      currency: 'USD',
      prices: { container_vcpu_hour_usd: prices.containerVcpuHourUsd },
      data: page.data.map((g) => usageGroupWire(g, q.group_by, prices)),
      next_page: page.next,
    };
  });
};
