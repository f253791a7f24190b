#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '@berth/server';
import { clientOptions, makeClient } from './client.js';
import { demo } from './demo.js';
import { doctor } from './doctor.js';
import { runPrompt } from './run.js';
import { addConfigOptions, configFromFlags, serve } from './serve.js';
import { sessionCommands } from './sessions.js';
import { fileCommands, workspaceCommands } from './files.js';
import { previewCommands } from './previews.js';
import { addTriggerCommands } from './triggers.js';
import { addWebhookCommands } from './webhooks.js';
import { usage, type UsageOptions } from './usage.js';
import { registerAdmin } from './admin.js';

const print = (l: string) => process.stdout.write(l + '\n');

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function sessionId(v: string): string {
  if (!/^sesn_[0-9A-Za-z]+$/.test(v)) throw new InvalidArgumentError("expected a session id like 'sesn_…'");
  return v;
}

/** Adds the options every client command shares. */
function clientCmd(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'Berth API URL [env BERTH_URL]', undefined)
    .option('--api-key <key>', 'API key [env BERTH_API_KEY; default: <data-dir>/admin.key]')
    .option('--data-dir <dir>', 'data dir to read admin.key from [env BERTH_DATA_DIR]')
    .option('--as-tenant <id>', 'with an admin key: act on this tenant (berth-tenant header) [env BERTH_TENANT]');
}

const program = new Command('berth')
  .description('Berth: run Claude Agent SDK agents in sandboxes behind a Managed-Agents-compatible API.')
  .showHelpAfterError();

addConfigOptions(program.command('serve').description('Run berthd (the API server).')).action(
  async (flags: Record<string, unknown>) => {
    await serve(configFromFlags(flags, process.env), print);
  },
);

addConfigOptions(
  program
    .command('demo')
    .description('Start Berth on the embedded defaults and run a session that writes and runs a program.'),
).action(async (flags: Record<string, unknown>) => {
  // The demo prints events readably; server logs stay quiet unless asked for.
  await demo(configFromFlags({ scriptedModel: true, logLevel: 'warn', ...flags }, process.env), print);
});

clientCmd(
  program
    .command('run')
    .argument('<prompt>', 'what the agent should do')
    .description('Run one prompt in an ephemeral session.'),
)
  .option('--agent <id>', 'agent to use (default: a new quick-start agent)')
  .option('--environment <id>', 'environment to use (default: a new quick-start environment)')
  .option('--model <id>', 'model for the quick-start agent', 'claude-sonnet-4-5')
  .option('--keep', 'keep the session after the run', false)
  .action(
    async (
      prompt: string,
      o: {
        agent?: string;
        environment?: string;
        model: string;
        keep: boolean;
        url?: string;
        apiKey?: string;
        dataDir?: string;
      },
    ) => {
      process.exitCode = await runPrompt(makeClient(clientOptions(o)), prompt, o, print);
    },
  );

const sessions = program.command('sessions').description('Inspect and drive sessions.');
clientCmd(sessions.command('list').description('List sessions, newest first.'))
  .option('--limit <n>', 'how many', positiveInt, 20)
  .option('--status <status>', 'only sessions in this status (idle|running|rescheduling|terminated)')
  .action(async (o: { limit: number; status?: string; url?: string; apiKey?: string; dataDir?: string }) =>
    sessionCommands.list(makeClient(clientOptions(o)), print, o),
  );
clientCmd(
  sessions.command('show').argument('<id>', 'session id', sessionId).description('Show a session as JSON.'),
).action(async (id: string, o: { url?: string; apiKey?: string; dataDir?: string }) =>
  sessionCommands.show(makeClient(clientOptions(o)), print, id),
);
clientCmd(
  sessions.command('events').argument('<id>', 'session id', sessionId).description("Print a session's event history."),
)
  .option('--json', 'one JSON event per line', false)
  .action(async (id: string, o: { json: boolean; url?: string; apiKey?: string; dataDir?: string }) =>
    sessionCommands.events(makeClient(clientOptions(o)), print, id, o),
  );
clientCmd(
  sessions
    .command('send')
    .argument('<id>', 'session id', sessionId)
    .argument('<text>', 'message text')
    .description('Send a user message (and follow the turn).'),
)
  .option('--no-follow', 'return right after sending')
  .action(async (id: string, text: string, o: { follow: boolean; url?: string; apiKey?: string; dataDir?: string }) => {
    process.exitCode = await sessionCommands.send(makeClient(clientOptions(o)), print, id, text, o);
  });
clientCmd(
  sessions.command('interrupt').argument('<id>', 'session id', sessionId).description('Interrupt the running turn.'),
).action(async (id: string, o: { url?: string; apiKey?: string; dataDir?: string }) =>
  sessionCommands.interrupt(makeClient(clientOptions(o)), print, id),
);
clientCmd(
  sessions
    .command('egress')
    .argument('<id>', 'session id', sessionId)
    .description("Print a session's egress audit: every request its sandbox made, allowed or denied, and why."),
)
  .option('--json', 'one JSON record per line', false)
  .option('--denied', 'only denied requests', false)
  .action(async (id: string, o: { json: boolean; denied: boolean; url?: string; apiKey?: string; dataDir?: string }) =>
    sessionCommands.egress(makeClient(clientOptions(o)), print, id, o),
  );
clientCmd(
  sessions.command('delete').argument('<id>', 'session id', sessionId).description('Delete a session and its sandbox.'),
).action(async (id: string, o: { url?: string; apiKey?: string; dataDir?: string }) =>
  sessionCommands.delete(makeClient(clientOptions(o)), print, id),
);

type Conn = { url?: string; apiKey?: string; dataDir?: string };

function fileId(v: string): string {
  if (!/^file_[0-9A-Za-z]+$/.test(v)) throw new InvalidArgumentError("expected a file id like 'file_…'");
  return v;
}

const wsFiles = sessions.command('files').description("A session's workspace files (while its workspace exists).");
clientCmd(
  wsFiles
    .command('ls')
    .argument('<id>', 'session id', sessionId)
    .argument('[path]', 'directory relative to /workspace', '')
    .description('List a workspace directory.'),
)
  .option('-r, --recursive', 'everything below it', false)
  .option('--json', 'one JSON entry per line', false)
  .action(async (id: string, path: string, o: Conn & { recursive: boolean; json: boolean }) =>
    workspaceCommands.ls(makeClient(clientOptions(o)), print, id, path, o),
  );
clientCmd(
  wsFiles
    .command('get')
    .argument('<id>', 'session id', sessionId)
    .argument('<path>', 'file relative to /workspace')
    .description('Download a workspace file (to stdout, or -o FILE).'),
)
  .option('-o, --output <file>', 'write to this new file')
  .action(async (id: string, path: string, o: Conn & { output?: string }) =>
    workspaceCommands.get(makeClient(clientOptions(o)), print, id, path, o),
  );
clientCmd(
  wsFiles
    .command('put')
    .argument('<id>', 'session id', sessionId)
    .argument('<local>', 'local file to upload')
    .argument('[path]', 'destination relative to /workspace (default: the file name)')
    .description('Upload a file into the workspace (parent directories are made).'),
).action(async (id: string, local: string, path: string | undefined, o: Conn) =>
  workspaceCommands.put(makeClient(clientOptions(o)), print, id, local, path),
);
clientCmd(
  wsFiles
    .command('rm')
    .argument('<id>', 'session id', sessionId)
    .argument('<path>', 'file or directory relative to /workspace')
    .description('Remove a workspace file, symlink or empty directory.'),
)
  .option('-r, --recursive', 'remove a directory tree', false)
  .action(async (id: string, path: string, o: Conn & { recursive: boolean }) =>
    workspaceCommands.rm(makeClient(clientOptions(o)), print, id, path, o),
  );
clientCmd(
  wsFiles
    .command('tar')
    .argument('<id>', 'session id', sessionId)
    .argument('[path]', 'directory relative to /workspace', '')
    .description('Download a directory as a tar archive (to stdout, or -o FILE).'),
)
  .option('-o, --output <file>', 'write to this new file')
  .action(async (id: string, path: string, o: Conn & { output?: string }) =>
    workspaceCommands.tar(makeClient(clientOptions(o)), print, id, path, o),
  );

const previews = sessions
  .command('previews')
  .description("Port previews of a session's sandbox (berthd needs --preview-port).");
clientCmd(
  previews
    .command('create')
    .argument('<id>', 'session id', sessionId)
    .argument('<port>', 'the port the agent serves on in its sandbox', portNumber)
    .description('Expose a port the agent listens on; prints the URL and its token (once).'),
).action(async (id: string, port: number, o: Conn) =>
  previewCommands.create(makeClient(clientOptions(o)), print, id, port),
);
clientCmd(
  previews.command('ls').argument('<id>', 'session id', sessionId).description("List a session's previews."),
).action(async (id: string, o: Conn) => previewCommands.list(makeClient(clientOptions(o)), print, id));
clientCmd(
  previews
    .command('rm')
    .argument('<id>', 'session id', sessionId)
    .argument('<preview>', "preview id ('prev_…')")
    .description('Revoke a preview (its token stops working at once).'),
).action(async (id: string, previewId: string, o: Conn) =>
  previewCommands.rm(makeClient(clientOptions(o)), print, id, previewId),
);

function portNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port number 1-65535');
  return n;
}

const files = program.command('files').description('The Files API: uploads that sessions can mount.');
clientCmd(files.command('upload').argument('<path>', 'local file').description('Upload a file.')).action(
  async (path: string, o: Conn) => fileCommands.upload(makeClient(clientOptions(o)), print, path),
);
clientCmd(files.command('list').description('List files, newest first.'))
  .option('--limit <n>', 'how many', positiveInt, 20)
  .action(async (o: Conn & { limit: number }) => fileCommands.list(makeClient(clientOptions(o)), print, o));
clientCmd(
  files.command('get').argument('<id>', 'file id', fileId).description("Show a file's metadata as JSON."),
).action(async (id: string, o: Conn) => fileCommands.get(makeClient(clientOptions(o)), print, id));
clientCmd(
  files
    .command('download')
    .argument('<id>', 'file id', fileId)
    .description("Download a file's content (to stdout, or -o FILE)."),
)
  .option('-o, --output <file>', 'write to this new file')
  .action(async (id: string, o: Conn & { output?: string }) =>
    fileCommands.download(makeClient(clientOptions(o)), print, id, o),
  );
clientCmd(files.command('delete').argument('<id>', 'file id', fileId).description('Delete a file.')).action(
  async (id: string, o: Conn) => fileCommands.delete(makeClient(clientOptions(o)), print, id),
);

addWebhookCommands(program, clientCmd, (o) => makeClient(clientOptions(o)), print, positiveInt);
const GROUPS = ['session', 'agent', 'environment', 'tenant', 'day'];
clientCmd(
  program
    .command('usage')
    .description('Show the usage ledger: model tokens, sandbox time and cost, grouped, in a time range.'),
)
  .option(
    '--by <group>',
    `group by ${GROUPS.join('|')}`,
    (v: string) => {
      if (!GROUPS.includes(v)) throw new InvalidArgumentError(`expected one of ${GROUPS.join(', ')}`);
      return v;
    },
    'session',
  )
  .option('--from <time>', 'from this time, inclusive (RFC 3339 timestamp or YYYY-MM-DD, UTC)')
  .option('--to <time>', 'until this time, exclusive (RFC 3339 timestamp or YYYY-MM-DD, UTC)')
  .option('--session <id>', 'only this session')
  .option('--agent <id>', 'only this agent')
  .option('--environment <id>', 'only this environment')
  .option('--json', 'one JSON group per line (as the API returns them)', false)
  .action(async (o: Conn & UsageOptions) => usage(makeClient(clientOptions(o)), print, o));

addTriggerCommands(program, clientCmd, print, { positiveInt, sessionId });

addConfigOptions(program.command('doctor').description('Check that this host can run Berth sandboxes.')).action(
  async (flags: Record<string, unknown>) => {
    const checks = await doctor(configFromFlags(flags, process.env));
    for (const c of checks) print(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`);
    process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
  },
);

registerAdmin(program, clientCmd, (o) => makeClient(clientOptions(o)), print, positiveInt);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  // API errors from the SDK carry the server's Anthropic-shaped body; show its message, not the raw JSON.
  const api = err as { status?: number; error?: { error?: { type?: string; message?: string } }; requestID?: string };
  if (api.status && api.error?.error?.message) {
    console.error(
      `berth: ${api.error.error.type ?? 'error'} (${api.status}): ${api.error.error.message}${api.requestID ? ` [${api.requestID}]` : ''}`,
    );
  } else {
    console.error(`berth: ${(err as Error).message}`);
  }
  process.exit(1);
});
