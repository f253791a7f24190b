import type { ControlChannel } from './control/channel.js';
import type { RunnerEnv } from './env.js';
import { startForwarder, type Forwarder } from './forwarder.js';
import type { Logger, SecretScrubber } from './log.js';
import { ProcessReaper } from './proc/reaper.js';
import { SessionHost } from './host.js';
import type { SdkApi } from './session/session.js';

/** What main.ts hands over once hello is on its way. */
export interface CoreInput {
  channel: ControlChannel;
  env: RunnerEnv;
  log: Logger;
  scrubber: SecretScrubber;
}

/** The running runner core, for shutdown. */
export interface RunnerCore {
  host: SessionHost;
  shutdown(): Promise<void>;
}

/**
 * The runner core: everything that is not needed to send the first hello (zod schemas, sessions, the model
 * forwarder). main.ts imports this module dynamically after connecting, so its load time is off the start-up
 * path. Composition happens here and in main.ts only.
 */
export function startRunnerCore(input: CoreInput): RunnerCore {
  const { channel, env, log, scrubber } = input;
  // Started now (cheap) so they are ready before the first session needs them.
  const forwarder: Promise<Forwarder> = startForwarder({ name: 'model', socket: env.modelSocket, log });
  forwarder.catch((err: unknown) => log.error('model forwarder failed to start', { err }));
  const egress: Promise<Forwarder> = startForwarder({ name: 'egress', socket: env.egressSocket, log });
  egress.catch((err: unknown) => log.error('egress forwarder failed to start', { err }));
  let sdk: Promise<SdkApi> | null = null;
  const host = new SessionHost({
    channel,
    log,
    scrubber,
    reaper: new ProcessReaper({ log, selfPid: process.pid }),
    // The SDK is imported on the first start_session only: a sandbox that never runs an agent never pays for it.
    loadSdk: () => (sdk ??= import('@anthropic-ai/claude-agent-sdk')),
    modelBaseUrl: () => forwarder.then((f) => f.url),
    proxyUrl: () => egress.then((f) => f.url),
    path: env.path,
    tunnels: {
      socketPath: env.tunnelSocket,
      // A forwarder that failed to start has no port to protect.
      reservedPorts: () => Promise.all([forwarder, egress].map((f) => f.then((x) => x.port).catch(() => 0))),
      log,
    },
  });
  channel.client.setLineHandler((line) => host.handleLine(line));
  return {
    host,
    async shutdown() {
      await host.shutdown();
      await forwarder.then((f) => f.close()).catch(() => {});
      await egress.then((f) => f.close()).catch(() => {});
      await channel.close();
    },
  };
}
