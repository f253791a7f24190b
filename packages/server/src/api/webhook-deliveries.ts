import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, notFound } from '../errors.js';
import {
  WebhookDeliveryInFlightError,
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
} from '../store/store.js';
import { checkId } from './common.js';
import type { ApiContext } from './context.js';
import { DeliveryListQuerySchema } from './webhooks-schema.js';
import { parseInput } from './validate.js';
import { storeOf } from './tenancy.js';

/** The wire form of a delivery; the payload is included parsed (it is what the receiver got, byte for byte). */
export function serializeDelivery(d: WebhookDeliveryRecord, withPayload: boolean): object {
  const { payload, ...rest } = d;
  return {
    ...rest,
    type: 'webhook_delivery',
    ...(withPayload ? { payload: JSON.parse(payload) as unknown } : {}),
  };
}

const Params = z.object({ id: z.string(), delivery_id: z.string() });
const IdParams = z.object({ id: z.string() });

/** The delivery log of an endpoint: list, retrieve, redeliver. */
export function webhookDeliveryRoutes(
  app: FastifyInstance,
  ctx: ApiContext,
  loadEndpoint: (req: FastifyRequest, id: string) => Promise<WebhookEndpointRecord>,
): void {
  const { clock } = ctx;
  const load = async (req: FastifyRequest, id: string, deliveryId: string) => {
    await loadEndpoint(req, id);
    checkId('webhook delivery', 'whmsg_', deliveryId);
    const d = await storeOf(req).getWebhookDelivery(id, deliveryId);
    if (!d) throw notFound('webhook delivery', deliveryId);
    return d;
  };

  app.get('/v1/berth/webhooks/:id/deliveries', async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const q = parseInput(DeliveryListQuerySchema, req.query, 'query');
    await loadEndpoint(req, id);
    const page = await storeOf(req).listWebhookDeliveries(id, { limit: q.limit, page: q.page, status: q.status });
    return { data: page.data.map((d) => serializeDelivery(d, false)), next_page: page.next };
  });

  app.get('/v1/berth/webhooks/:id/deliveries/:delivery_id', async (req) => {
    const { id, delivery_id } = parseInput(Params, req.params, 'path');
    return serializeDelivery(await load(req, id, delivery_id), true);
  });

  app.post('/v1/berth/webhooks/:id/deliveries/:delivery_id/redeliver', async (req) => {
    const { id, delivery_id } = parseInput(Params, req.params, 'path');
    await load(req, id, delivery_id);
    try {
      const d = await storeOf(req).redeliverWebhookDelivery(id, delivery_id, clock());
      if (!d) throw notFound('webhook delivery', delivery_id);
      ctx.webhooks?.kick();
      return serializeDelivery(d, false);
    } catch (err) {
      if (!(err instanceof WebhookDeliveryInFlightError)) throw err;
      throw new ApiError(
        'webhook_delivery_in_flight',
        `An attempt of delivery '${delivery_id}' is in flight. Wait for it to finish (list the deliveries), then retry.`,
      );
    }
  });
}
