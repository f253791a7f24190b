/**
 * Entry point of the in-sandbox runner (`node dist/runner.cjs`). It connects to berthd and sends `hello` before
 * doing anything else: benchmark B1 counts sandbox creation → hello. Only small modules are imported statically;
 * the core (zod schemas, sessions, forwarder) is imported after the connection attempt has started, and the
 * Agent SDK only when a session starts.
 */
import { ControlChannel } from './control/channel.js';
import { Outbox } from './control/outbox.js';
import { MAX_FRAME_BYTES } from '@berth/protocol/wire';
import { readRunnerEnv, RUNNER_VERSION } from './env.js';
import { createLogger, SecretScrubber } from './log.js';

const env = readRunnerEnv(process.env);
const scrubber = new SecretScrubber();
const log = createLogger({ level: env.logLevel, scrubber, base: { component: 'runner', sandbox_id: env.sandboxId } });

const channel = new ControlChannel({
  socketPath: env.controlSocket,
  maxFrameBytes: MAX_FRAME_BYTES,
  outbox: new Outbox(MAX_FRAME_BYTES),
  info: { sandboxId: env.sandboxId, runnerVersion: RUNNER_VERSION, pid: process.pid },
  log,
});
channel.start();

// No top-level await: the entry is bundled as CommonJS, which Node loads faster than an ES module.
const core = import('./core.js').then(({ startRunnerCore }) => {
  const started = startRunnerCore({ channel, env, log, scrubber });
  log.info('runner started', { pid: process.pid, version: RUNNER_VERSION });
  return started;
});

let shuttingDown = false;
const shutdown = (signal: string): void => {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info('shutting down', { signal });
  // Bounded: a session that refuses to stop must not keep the sandbox's init process alive forever.
  const force = setTimeout(() => process.exit(0), 10_000);
  force.unref();
  core
    .then((c) => c.shutdown())
    .then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err });
        process.exit(0);
      },
    );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('uncaughtException', (err) => log.error('uncaught exception', { err }));
process.on('unhandledRejection', (err) => log.error('unhandled rejection', { err }));
