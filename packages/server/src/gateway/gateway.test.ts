import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { openSqlite } from '../store/open.js';
import type { Store } from '../store/store.js';
import { ModelGateway } from './gateway.js';

/** GET /api/hello over `agent`; resolves with whether the request went out on a reused (kept-alive) connection. */
function hello(socketPath: string, agent: Agent): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/api/hello', method: 'GET', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('model gateway listener', () => {
  let dir: string;
  let store: Store;
  let gateway: ModelGateway;
  let server: Server;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-'));
    store = openSqlite(join(dir, 'db.sqlite'));
    await store.migrate();
    gateway = new ModelGateway({ url: 'http://127.0.0.1:9', apiKey: 'unused' }, store, createLogger('silent'));
    server = await gateway.listen(join(dir, 'model.sock'), () => undefined);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await gateway.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // The CLI keeps its connection between turns; had the server closed it after Node's default 5 s, a request written
  // at that moment failed with ECONNRESET (found by the load benchmark).
  it('keeps an idle keep-alive connection open past Node’s default timeout (5 s, closed at 6)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const path = join(dir, 'model.sock');
    expect(await hello(path, agent)).toEqual({ status: 200, reused: false });
    await new Promise((r) => setTimeout(r, 6_500));
    expect(await hello(path, agent)).toEqual({ status: 200, reused: true });
    agent.destroy();
  }, 15_000);
});
