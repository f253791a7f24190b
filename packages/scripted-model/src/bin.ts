#!/usr/bin/env node
/**
 * `berth-scripted-model`: runs the scripted model standalone. Prints the base URL on stdout (one line) and logs
 * requests to stderr as JSON lines; SIGINT/SIGTERM close it.
 */
import { parseArgs } from 'node:util';
import { startScriptedModel } from './server.js';

const USAGE = `usage: berth-scripted-model [--host 127.0.0.1] [--port 0] [--scenarios DIR]... [--api-key KEY] [--quiet]

  --host HOST       address to listen on (default 127.0.0.1)
  --port PORT       port to listen on, 0 for any free port (default 0)
  --scenarios DIR   directory of *.json scenario files; repeatable; later files override built-ins by name
  --api-key KEY     require this key in x-api-key or Authorization: Bearer on /v1/* requests
  --quiet           do not log requests to stderr`;

function fail(message: string): never {
  process.stderr.write(`berth-scripted-model: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function parse(): { host: string; port: number; scenarioDirs: string[]; apiKey?: string; quiet: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '0' },
        scenarios: { type: 'string', multiple: true, default: [] },
        'api-key': { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535)
    fail(`--port must be an integer from 0 to 65535, got "${values.port}"`);
  if (values.host === '') fail('--host must not be empty');
  if (values['api-key'] === '') fail('--api-key must not be empty');
  return { host: values.host, port, scenarioDirs: values.scenarios, apiKey: values['api-key'], quiet: values.quiet };
}

function log(level: string, o: object, msg?: string): void {
  process.stderr.write(`${JSON.stringify({ level, time: Date.now(), msg, ...o })}\n`);
}

const args = parse();
try {
  const model = await startScriptedModel({
    host: args.host,
    port: args.port,
    scenarioDirs: args.scenarioDirs,
    apiKey: args.apiKey,
    logger: args.quiet ? undefined : { info: (o, m) => log('info', o, m), warn: (o, m) => log('warn', o, m) },
  });
  process.stdout.write(`${model.url}\n`);
  const stop = (): void => void model.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  process.stderr.write(`berth-scripted-model: ${(err as Error).message}\n`);
  process.exit(1);
}
