import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import type { TriggerRecord, TriggerRunRecord } from '../store/store.js';
import { checkId } from './common.js';
import type { RouteModule } from './context.js';
import {
  RunListQuerySchema,
  TriggerCreateSchema,
  TriggerListQuerySchema,
  TriggerUpdateSchema,
} from './triggers-schema.js';
import { parseInput } from './validate.js';
import { storeOf } from './tenancy.js';

/** The path of a trigger's webhook (public: authenticated by the trigger's secret, not the API key). */
export const hookPath = (id: string) => `/v1/berth/triggers/${id}/hook`;

/** The wire form of a trigger. `secret` is present only in the answers to create and rotate_secret. */
export function serializeTrigger(t: TriggerRecord, base: string, secret?: string): object {
  return {
    id: t.id,
    type: 'trigger',
    kind: t.kind,
    session_id: t.session_id,
    name: t.name,
    prompt: t.prompt,
    enabled: t.enabled,
    schedule: t.kind === 'schedule' ? { cron: t.cron, timezone: t.timezone } : null,
    webhook: t.kind === 'webhook' ? { url: base + hookPath(t.id), ...(secret ? { secret } : {}) } : null,
    next_run_at: t.next_run_at,
    last_run_at: t.last_run_at,
    metadata: t.metadata,
    created_at: t.created_at,
    updated_at: t.updated_at,
  };
}

/** The wire form of one entry of a trigger's run log. */
export function serializeRun(r: TriggerRunRecord): object {
  return { type: 'trigger_run', ...r };
}

/** The API's own origin as the client reached it, for absolute webhook URLs. */
const baseOf = (req: FastifyRequest) => `${req.protocol}://${req.host}`;

const IdParams = z.object({ id: z.string() });

/**
 * `/v1/berth/triggers`: create, list, retrieve, update (pause/resume with `enabled`), delete, rotate a webhook
 * secret, and read a trigger's run log. The webhook itself is in trigger-hook.ts.
 */
export const triggerRoutes: RouteModule = (app, { triggers }) => {
  const load = async (req: FastifyRequest, id: string) => {
    checkId('trigger', 'trg_', id);
    return triggers.load(id, storeOf(req));
  };

  app.post('/v1/berth/triggers', async (req) => {
    const b = parseInput(TriggerCreateSchema, req.body);
    const { trigger, secret } = await triggers.create(b, storeOf(req));
    return serializeTrigger(trigger, baseOf(req), secret);
  });

  app.get('/v1/berth/triggers', async (req) => {
    const q = parseInput(TriggerListQuerySchema, req.query, 'query');
    const page = await storeOf(req).listTriggers({ limit: q.limit, page: q.page, sessionId: q.session_id });
    return { data: page.data.map((t) => serializeTrigger(t, baseOf(req))), next_page: page.next };
  });

  app.get('/v1/berth/triggers/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    return serializeTrigger(await load(req, id), baseOf(req));
  });

  app.post('/v1/berth/triggers/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(TriggerUpdateSchema, req.body ?? {});
    checkId('trigger', 'trg_', id);
    return serializeTrigger(await triggers.update(id, b, storeOf(req)), baseOf(req));
  });

  app.delete('/v1/berth/triggers/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    checkId('trigger', 'trg_', id);
    await triggers.delete(id, storeOf(req));
    return { id, type: 'trigger_deleted' };
  });

  app.post('/v1/berth/triggers/:id/rotate_secret', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    checkId('trigger', 'trg_', id);
    const { trigger, secret } = await triggers.rotateSecret(id, storeOf(req));
    return serializeTrigger(trigger, baseOf(req), secret);
  });

  app.get('/v1/berth/triggers/:id/runs', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const q = parseInput(RunListQuerySchema, req.query, 'query');
    await load(req, id);
    const page = await storeOf(req).listTriggerRuns(id, { limit: q.limit, page: q.page });
    return { data: page.data.map(serializeRun), next_page: page.next };
  });
};
