import { z } from 'zod';
import { checkId } from './common.js';
import type { RouteModule } from './context.js';
import { wireSession } from './sessions.js';
import { loadSession, storeOf } from './tenancy.js';
import { parseInput } from './validate.js';

const Params = z.object({ id: z.string() });

/**
 * Berth's lifecycle routes (`/v1/berth/...`): hibernate an idle session now (its files and transcript go to the
 * blob store and its sandbox is destroyed), or resume a hibernated one before its next message. Both answer with
 * the session object; `berth.state` says where it is.
 */
export const sessionLifecycleRoutes: RouteModule = (app, ctx) => {
  const { sessions } = ctx;
  app.post('/v1/berth/sessions/:id/hibernate', async (req) => {
    const { id } = parseInput(Params, req.params, 'path');
    checkId('session', 'sesn_', id);
    await loadSession(req, id);
    return wireSession(await sessions.hibernate(id), storeOf(req), ctx);
  });
  app.post('/v1/berth/sessions/:id/resume', async (req) => {
    const { id } = parseInput(Params, req.params, 'path');
    checkId('session', 'sesn_', id);
    await loadSession(req, id);
    return wireSession(await sessions.resume(id), storeOf(req), ctx);
  });
};
