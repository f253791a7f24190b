import { newId } from '@berth/protocol';
import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import { ApiError, notFound } from '../errors.js';
import type { WebhookEndpointRecord } from '../store/store.js';
import { targetProblem } from '../webhooks/target.js';
import { newSigningSecret } from '../webhooks/signing.js';
import { checkId, patchMetadata } from './common.js';
import type { RouteModule } from './context.js';
import {
  RotateSecretSchema,
  WebhookCreateSchema,
  WebhookListQuerySchema,
  WebhookUpdateSchema,
} from './webhooks-schema.js';
import { parseInput } from './validate.js';
import { storeOf } from './tenancy.js';
import { webhookDeliveryRoutes } from './webhook-deliveries.js';

/** The wire form of an endpoint. The signing secret is never part of it (create and rotate add it once). */
export function serializeWebhook(w: WebhookEndpointRecord): object {
  return {
    id: w.id,
    type: 'webhook',
    url: w.url,
    description: w.description,
    event_types: w.event_types,
    enabled: w.enabled,
    metadata: w.metadata,
    previous_secret_expires_at: w.previous_secret_expires_at,
    created_at: w.created_at,
    updated_at: w.updated_at,
  };
}

const IdParams = z.object({ id: z.string() });

/**
 * Webhook endpoints (`/v1/berth/webhooks`): create, list, retrieve, update, delete, rotate the signing secret. The
 * delivery log lives in webhook-deliveries.ts. Endpoints belong to the caller's tenant and
 * receive only that tenant's events.
 */
export const webhookRoutes: RouteModule = (app, ctx) => {
  const { clock, config } = ctx;
  const secrets = ctx.webhooks?.secrets;
  const sealer = () => {
    if (!secrets) throw new ApiError('unsupported_feature', 'Webhooks are not enabled on this server.');
    return secrets;
  };
  const checkUrl = (url: string) => {
    const problem = targetProblem(url, config.webhookAllowPrivateTargets);
    if (problem) throw new ApiError('webhook_target_forbidden', `url ${problem}.`);
  };
  const load = async (req: FastifyRequest, id: string) => {
    checkId('webhook', 'whk_', id);
    const w = await storeOf(req).getWebhook(id);
    if (!w) throw notFound('webhook', id);
    return w;
  };

  app.post('/v1/berth/webhooks', async (req) => {
    const b = parseInput(WebhookCreateSchema, req.body);
    checkUrl(b.url);
    const now = clock();
    const id = newId('webhook');
    const secret = newSigningSecret();
    const w: WebhookEndpointRecord = {
      id,
      url: b.url,
      description: b.description ?? null,
      event_types: b.event_types ?? null,
      enabled: b.enabled ?? true,
      metadata: b.metadata ?? {},
      secret: sealer().seal(id, secret),
      previous_secret: null,
      previous_secret_expires_at: null,
      created_at: now,
      updated_at: now,
    };
    await storeOf(req).createWebhook(w);
    return { ...serializeWebhook(w), secret };
  });

  app.get('/v1/berth/webhooks', async (req) => {
    const q = parseInput(WebhookListQuerySchema, req.query, 'query');
    const page = await storeOf(req).listWebhooks({ limit: q.limit, page: q.page });
    return { data: page.data.map(serializeWebhook), next_page: page.next };
  });

  app.get('/v1/berth/webhooks/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    return serializeWebhook(await load(req, id));
  });

  app.post('/v1/berth/webhooks/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(WebhookUpdateSchema, req.body ?? {});
    const w = await load(req, id);
    if (b.url !== undefined) checkUrl(b.url);
    const next: WebhookEndpointRecord = {
      ...w,
      url: b.url ?? w.url,
      description: b.description === undefined ? w.description : b.description,
      event_types: b.event_types === undefined ? w.event_types : b.event_types,
      enabled: b.enabled ?? w.enabled,
      metadata: patchMetadata(w.metadata, b.metadata ?? undefined),
    };
    if (JSON.stringify(next) === JSON.stringify(w)) return serializeWebhook(w);
    next.updated_at = clock();
    await storeOf(req).putWebhook(next);
    if (next.enabled && !w.enabled) ctx.webhooks?.kick();
    return serializeWebhook(next);
  });

  app.delete('/v1/berth/webhooks/:id', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    await load(req, id);
    await storeOf(req).deleteWebhook(id);
    return { id, type: 'webhook_deleted' };
  });

  app.post('/v1/berth/webhooks/:id/rotate_secret', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const b = parseInput(RotateSecretSchema, req.body ?? {});
    const w = await load(req, id);
    const now = clock();
    const graceS = b.grace_period_s ?? 86_400;
    const secret = newSigningSecret();
    const next: WebhookEndpointRecord = {
      ...w,
      secret: sealer().seal(id, secret),
      previous_secret: graceS > 0 ? w.secret : null,
      previous_secret_expires_at: graceS > 0 ? new Date(Date.parse(now) + graceS * 1000).toISOString() : null,
      updated_at: now,
    };
    await storeOf(req).putWebhook(next);
    return { ...serializeWebhook(next), secret };
  });

  webhookDeliveryRoutes(app, ctx, load);
};
