/** Renders Managed Agents events as short, readable terminal lines. */

type Ev = { type: string; [k: string]: unknown };

const MAX = 300;

function clip(s: string, max = MAX): string {
  const one = s.replace(/\s+$/g, '');
  return one.length > max ? `${one.slice(0, max)}… (${one.length - max} more chars)` : one;
}

function texts(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .map((b: { type?: string; text?: string }) => (b.type === 'text' ? (b.text ?? '') : `[${b.type ?? '?'}]`))
    .join('\n');
}

function indent(s: string, pad = '      '): string {
  return s
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

/** One event as one or more lines; null for events not worth showing. */
export function formatEvent(e: Ev): string | null {
  switch (e.type) {
    case 'user.message':
      return `you   ${clip(texts(e.content))}`;
    case 'user.interrupt':
      return 'you   (interrupt)';
    case 'session.status_running':
      return '...   running';
    case 'session.status_idle': {
      const r = e.stop_reason as { type?: string } | undefined;
      return `idle  (${r?.type ?? 'unknown'})`;
    }
    case 'session.status_terminated':
      return 'done  session terminated';
    case 'agent.message':
      return `agent ${clip(texts(e.content), 2000)}`;
    case 'agent.thinking':
      return null;
    case 'agent.tool_use':
      return `tool  ${String(e.name)} ${clip(JSON.stringify(e.input ?? {}))}`;
    case 'agent.mcp_tool_use':
      return `mcp   ${String(e.mcp_server_name)}/${String(e.name)} ${clip(JSON.stringify(e.input ?? {}))}`;
    case 'agent.mcp_tool_result':
    case 'agent.tool_result': {
      const out = clip(texts(e.content), 1000);
      return `${e.is_error ? 'error' : 'out  '} ${out ? `\n${indent(out)}` : '(no output)'}`;
    }
    case 'span.model_request_end': {
      const u = e.model_usage as Record<string, number> | undefined;
      return u ? `model ${u.input_tokens} in / ${u.output_tokens} out tokens` : null;
    }
    case 'span.model_request_start':
      return null;
    case 'session.error': {
      const err = e.error as { type?: string; message?: string } | undefined;
      return `ERROR ${err?.type ?? 'error'}: ${err?.message ?? ''}`;
    }
    case 'session.deleted':
      return 'done  session deleted';
    default:
      return `${e.type}`;
  }
}
