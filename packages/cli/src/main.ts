#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '@berth/server';
import { clientOptions, makeClient } from './client.js';
import { demo } from './demo.js';
import { doctor } from './doctor.js';
import { runPrompt } from './run.js';
import { addConfigOptions, configFromFlags, serve } from './serve.js';
import { sessionCommands } from './sessions.js';

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
    .option('--data-dir <dir>', 'data dir to read admin.key from [env BERTH_DATA_DIR]');
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

addConfigOptions(program.command('doctor').description('Check that this host can run Berth sandboxes.')).action(
  async (flags: Record<string, unknown>) => {
    const checks = await doctor(configFromFlags(flags, process.env));
    for (const c of checks) print(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`);
    process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
  },
);

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
