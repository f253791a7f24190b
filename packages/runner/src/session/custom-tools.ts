import type { McpSdkServerConfigWithInstance } from '@anthropic-ai/claude-agent-sdk';
import { CUSTOM_TOOL_SERVER, type SessionRunConfig } from '@berth/protocol';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { ActionAnswer } from './actions.js';

/** The `_meta` key under which the CLI names the model's tool_use id of an MCP tool call. */
const TOOL_USE_ID_META = 'claudecode/toolUseId';

/** What the custom tool server needs from the session. */
export interface CustomToolDeps {
  tools: SessionRunConfig['custom_tools'];
  /** Waits for the client's `user.custom_tool_result` for the call `tooluId` (undefined: the oldest unclaimed). */
  result: (tooluId: string | undefined, signal: AbortSignal) => Promise<ActionAnswer>;
}

/**
 * The agent's custom tools as an in-process MCP server (`mcp__custom__<name>`). The tools keep the agent's JSON
 * Schema as given (the low-level handlers skip a zod round trip that would lose parts of it). A call waits for the
 * client's result; the CLI sends it to the model as the tool result.
 */
export function customToolServer(deps: CustomToolDeps): McpSdkServerConfigWithInstance {
  const mcp = new McpServer({ name: CUSTOM_TOOL_SERVER, version: '1.0.0' });
  mcp.server.registerCapabilities({ tools: {} });
  mcp.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: deps.tools.map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: { ...t.input_schema, type: 'object' as const },
    })),
  }));
  mcp.server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    if (!deps.tools.some((t) => t.name === req.params.name)) {
      return { isError: true, content: [{ type: 'text', text: `Unknown custom tool '${req.params.name}'.` }] };
    }
    const id = req.params._meta?.[TOOL_USE_ID_META];
    const answer = await deps.result(typeof id === 'string' ? id : undefined, extra.signal);
    if (answer.kind === 'cancelled') {
      return { isError: true, content: [{ type: 'text', text: `No result: ${answer.reason}.` }] };
    }
    if (answer.kind !== 'custom') return { isError: true, content: [{ type: 'text', text: 'No result.' }] };
    // An empty result is still a result; MCP wants at least one block for the model to read.
    const content = answer.content.length > 0 ? answer.content : [{ type: 'text' as const, text: '' }];
    return { isError: answer.isError, content };
  });
  return { type: 'sdk', name: CUSTOM_TOOL_SERVER, instance: mcp };
}
