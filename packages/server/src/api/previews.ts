import { z } from 'zod';
import type { FastifyRequest } from 'fastify';
import { ApiError, notFound } from '../errors.js';
import type { PreviewService } from '../previews/service.js';
import { checkId } from './common.js';
import type { ApiContext, RouteModule } from './context.js';
import { parseInput } from './validate.js';
import { loadSession } from './tenancy.js';

const IdParams = z.object({ id: z.string() });
const PreviewParams = z.object({ id: z.string(), preview_id: z.string() });
const CreateBody = z.strictObject({
  port: z.number().int().min(1).max(65535).describe('The TCP port the agent serves on inside the sandbox.'),
});

/**
 * Berth extension: port previews of a session's sandbox (docs/api.md "Previews"). Creating one checks that
 * something listens on the port and returns the preview's URL and access token (shown once).
 */
export const previewRoutes: RouteModule = (app, ctx) => {
  const base = '/v1/berth/sessions/:id/previews';

  app.post(base, async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const svc = await serviceFor(ctx, req, id);
    const { port } = parseInput(CreateBody, req.body ?? {}, 'body');
    return svc.create(id, port, ctx.clock());
  });

  app.get(base, async (req) => {
    const { id } = parseInput(IdParams, req.params, 'path');
    const svc = await serviceFor(ctx, req, id);
    return { data: svc.registry.list(id).map((p) => svc.view(p)) };
  });

  app.get(`${base}/:preview_id`, async (req) => {
    const { id, preview_id } = parseInput(PreviewParams, req.params, 'path');
    const svc = await serviceFor(ctx, req, id);
    const p = svc.registry.get(id, preview_id);
    if (!p) throw notFound('preview', preview_id);
    return svc.view(p);
  });

  app.delete(`${base}/:preview_id`, async (req) => {
    const { id, preview_id } = parseInput(PreviewParams, req.params, 'path');
    const svc = await serviceFor(ctx, req, id);
    if (!svc.registry.revoke(id, preview_id)) throw notFound('preview', preview_id);
    return { type: 'preview_deleted', id: preview_id };
  });
};

/** 404 for an unknown session (or another tenant's), 400 when previews are off; otherwise the preview service. */
async function serviceFor(ctx: ApiContext, req: FastifyRequest, sessionId: string): Promise<PreviewService> {
  checkId('session', 'sesn_', sessionId);
  await loadSession(req, sessionId);
  if (!ctx.previews) {
    throw new ApiError(
      'unsupported_feature',
      'Port previews are off on this berthd. Start it with --preview-port (env BERTH_PREVIEW_PORT) to serve them.',
    );
  }
  return ctx.previews;
}
