import { z } from 'zod';
import { ApiError } from '../errors.js';
import { PAYLOAD_TYPES } from '../triggers/deliver.js';
import { checkId } from './common.js';
import type { RouteModule } from './context.js';
import { serializeRun } from './triggers.js';
import { parseInput } from './validate.js';

/** The route's pattern; http.ts lists it among the routes the API key does not guard. */
export const HOOK_ROUTE = '/v1/berth/triggers/:id/hook';

const IdParams = z.object({ id: z.string() });

/**
 * `POST /v1/berth/triggers/{id}/hook`: a webhook delivery. Public (no API key): the trigger's own secret
 * authenticates it (triggers/webhook-auth.ts). Registered in its own scope, whose body parser keeps the raw bytes
 * (the signature covers them exactly) and enforces the payload limit. Answers 202 with the run, or 200 with
 * `duplicate: true` for a signed delivery already received.
 */
export const triggerHookRoutes: RouteModule = (app, { triggerHooks, config }) => {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: config.triggerWebhookMaxBytes },
      (_req, body, done) => done(null, body),
    );
    scope.post(HOOK_ROUTE, async (req, reply) => {
      const { id } = parseInput(IdParams, req.params, 'path');
      checkId('trigger', 'trg_', id);
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!(PAYLOAD_TYPES as readonly string[]).includes(type)) {
        throw new ApiError(
          'unsupported_media_type',
          `Send the payload as ${PAYLOAD_TYPES.join(' or ')} (got '${type.slice(0, 64) || 'none'}').`,
        );
      }
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const result = await triggerHooks.deliver(id, req.headers, type, body);
      if ('duplicate' in result) {
        return { type: 'trigger_delivery', duplicate: true, delivery_id: result.duplicate };
      }
      void reply.status(202);
      return serializeRun(result.run);
    });
  });
};
