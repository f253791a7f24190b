import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type net from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { collectTurn, e2eSkipReason, filesUnder, say, startTestBerth, type TestBerth } from './harness.js';

type Ev = { id: string; type: string; [k: string]: unknown };

/**
 * A real MCP server (the @modelcontextprotocol/sdk streamable HTTP transport) on a host loopback address that demands
 * a bearer token. The agent reaches it only through the egress proxy (`allow_mcp_servers`), and the token comes from
 * a `static_bearer` vault credential injected there: the sandbox never has it.
 */
const TOKEN = `mcp-token-${randomBytes(12).toString('hex')}`;
const MARKER = `MCP-OK-${randomBytes(4).toString('hex')}`;

describe.skipIf(e2eSkipReason() !== false)('URL MCP servers through the egress proxy with a vault credential', () => {
  let t: TestBerth;
  let mcp: http.Server;
  let url: string;
  let unauthorized = 0;

  beforeAll(async () => {
    mcp = http.createServer((req, res) => {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        unauthorized++;
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
        return;
      }
      // Stateless: a server and transport per request.
      const server = new McpServer({ name: 'docs', version: '1.0.0' });
      server.registerTool(
        'lookup',
        { description: 'Looks a word up in the docs.', inputSchema: { word: z.string() } },
        ({ word }) => ({ content: [{ type: 'text', text: `${word}: ${MARKER}` }] }),
      );
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      void server.connect(transport).then(() => transport.handleRequest(req, res));
    });
    await new Promise<void>((r) => mcp.listen(0, '127.0.0.2', r));
    url = `http://127.0.0.2:${(mcp.address() as net.AddressInfo).port}/mcp`;
    t = await startTestBerth({
      scenarios: [
        {
          name: 'mcp-lookup',
          turns: [
            { content: [{ type: 'tool_use', name: 'lookup', input: { word: 'berth' } }] },
            { content: [{ type: 'text', text: 'Looked it up.' }] },
          ],
        },
      ],
    });
  });
  afterAll(async () => {
    await t?.close();
    mcp?.close();
  });

  async function session(withVault: boolean, opts: { ask?: boolean; serverUrl?: string } = {}): Promise<string> {
    const agent = await t.client.beta.agents.create({
      name: 'mcp',
      model: 'claude-sonnet-4-5',
      mcp_servers: [{ name: 'docs', type: 'url', url: opts.serverUrl ?? url }],
      tools: [
        { type: 'agent_toolset_20260401' },
        // The reference's default for an MCP toolset is always_ask.
        opts.ask
          ? { type: 'mcp_toolset', mcp_server_name: 'docs' }
          : {
              type: 'mcp_toolset',
              mcp_server_name: 'docs',
              default_config: { permission_policy: { type: 'always_allow' } },
            },
      ],
    });
    const env = await t.client.beta.environments.create({
      name: 'mcp',
      config: { type: 'cloud', networking: { type: 'limited', allow_mcp_servers: true } },
    });
    const vault = await t.client.beta.vaults.create({ display_name: 'mcp' });
    await t.client.beta.vaults.credentials.create(vault.id, {
      auth: { type: 'static_bearer', mcp_server_url: url, token: TOKEN },
    });
    return (
      await t.client.beta.sessions.create({
        agent: agent.id,
        environment_id: env.id,
        ...(withVault ? { vault_ids: [vault.id] } : {}),
      })
    ).id;
  }

  it('calls the MCP tool with the injected bearer, reported as agent.mcp_tool_use / mcp_tool_result', async () => {
    const id = await session(true);
    const events = (await collectTurn(t.client, id, () => say(t.client, id, '[scenario:mcp-lookup] look'))) as Ev[];
    const use = events.find((e) => e.type === 'agent.mcp_tool_use');
    expect(use).toMatchObject({ name: 'lookup', mcp_server_name: 'docs', input: { word: 'berth' } });
    const result = events.find((e) => e.type === 'agent.mcp_tool_result');
    expect(result).toMatchObject({ mcp_tool_use_id: use!.id, is_error: false });
    expect(JSON.stringify(result)).toContain(MARKER);
    expect(events.at(-1)).toMatchObject({ type: 'session.status_idle', stop_reason: { type: 'end_turn' } });
    const audit = (await t.client.get(`/v1/berth/sessions/${id}/egress`)) as {
      data: Array<{ method: string; decision: string; rule: string }>;
    };
    expect(audit.data.some((r) => r.decision === 'allowed' && r.rule === "allow_mcp_servers (MCP server 'docs')")).toBe(
      true,
    );
    expect(JSON.stringify(events)).not.toContain(TOKEN);
    // The sandbox never held the token: nothing it can read (workspace, home, its run dir) contains it.
    const s = (await t.client.beta.sessions.retrieve(id)) as unknown as { berth: { sandbox: { id: string } } };
    const info = await t.app.driver.inspect(s.berth.sandbox.id);
    const files = [info!.workspaceDir, info!.homeDir, join(t.dataDir, 'run', s.berth.sandbox.id)].flatMap((d) =>
      filesUnder(d),
    );
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readFileSync(f, 'latin1').includes(TOKEN), f).toBe(false);
  });

  it('by default an MCP call waits for confirmation (always_ask), then runs', async () => {
    const id = await session(true, { ask: true });
    const first = (await collectTurn(t.client, id, () => say(t.client, id, '[scenario:mcp-lookup] look'), {
      untilRequiresAction: true,
    })) as Ev[];
    const use = first.find((e) => e.type === 'agent.mcp_tool_use')!;
    expect(use).toMatchObject({ mcp_server_name: 'docs', name: 'lookup', evaluated_permission: 'ask' });
    expect(first.at(-1)).toMatchObject({ stop_reason: { type: 'requires_action', event_ids: [use.id] } });
    const rest = (await collectTurn(t.client, id, () =>
      t.client.beta.sessions.events.send(id, {
        events: [{ type: 'user.tool_confirmation', tool_use_id: use.id, result: 'allow' }],
      }),
    )) as Ev[];
    const result = rest.find((e) => e.type === 'agent.mcp_tool_result');
    expect(result).toMatchObject({ mcp_tool_use_id: use.id, is_error: false });
    expect(JSON.stringify(result)).toContain(MARKER);
  });

  it('without the vault the server sees no token: mcp_authentication_failed_error, and the tool never answers', async () => {
    const before = unauthorized;
    const id = await session(false);
    const events = (await collectTurn(t.client, id, () => say(t.client, id, '[scenario:mcp-lookup] look'))) as Ev[];
    expect(unauthorized).toBeGreaterThan(before);
    expect(JSON.stringify(events)).not.toContain(MARKER);
    const err = events.find((e) => e.type === 'session.error');
    expect(err).toMatchObject({ error: { type: 'mcp_authentication_failed_error', mcp_server_name: 'docs' } });
  });

  it('a server that cannot be reached: mcp_connection_failed_error naming it', async () => {
    // A loopback port nothing listens on (bound and closed again).
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.2', r));
    const dead = `http://127.0.0.2:${(probe.address() as net.AddressInfo).port}/mcp`;
    await new Promise((r) => probe.close(r));
    const id = await session(true, { serverUrl: dead });
    const events = (await collectTurn(t.client, id, () => say(t.client, id, '[scenario:mcp-lookup] look'))) as Ev[];
    const err = events.find((e) => e.type === 'session.error');
    expect(err).toMatchObject({ error: { type: 'mcp_connection_failed_error', mcp_server_name: 'docs' } });
  });
});
