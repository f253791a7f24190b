import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from './context.js';
import { WS_CLOSE } from './ws-channel.js';
import { selectProtocol, wsRoutes } from './ws.js';

/**
 * Registers `@fastify/websocket` and the session channel route. Upgrades run through the normal fastify stack
 * (auth hook, error handler), so a refused handshake is an HTTP error in the Anthropic shape.
 */
export function registerWebSocket(app: FastifyInstance, ctx: ApiContext): void {
  void app.register(websocket, {
    // A larger client frame closes the connection with 1009, as a larger POST body gets 413.
    options: { maxPayload: ctx.config.maxBodyBytes, handleProtocols: selectProtocol },
    // Socket errors are the client's (bad frames, resets); `ws` already closes with the right code.
    errorHandler: (err, socket, req) => {
      req.log.debug({ err: err.message }, 'websocket error');
      if (socket.readyState === socket.OPEN) socket.close(WS_CLOSE.internal, 'internal error');
    },
    preClose(done) {
      for (const client of this.websocketServer.clients)
        client.close(WS_CLOSE.serverShutdown, 'berthd is shutting down');
      this.websocketServer.close(() => undefined);
      done();
    },
  });
  // A refused handshake (401 from the auth hook, 404, …) leaves a socket node no longer manages once it emitted
  // 'upgrade': end it after the error response, or it would stay open (and hold up shutdown). The plugin's own hook
  // does this only for requests that got past its onRequest hook, which runs after authentication.
  app.addHook('onResponse', async (req) => {
    if (isUpgrade(req.raw.headers) && !req.raw.socket.destroyed) req.raw.socket.destroy();
  });
  // Routes declared inside a plugin registered after @fastify/websocket, as the plugin requires.
  void app.register(async (scope) => wsRoutes(scope, ctx));
}

function isUpgrade(h: Record<string, string | string[] | undefined>): boolean {
  const connection = typeof h.connection === 'string' ? h.connection.toLowerCase() : '';
  return typeof h.upgrade === 'string' && connection.split(',').some((t) => t.trim() === 'upgrade');
}
