import { spawn, type ChildProcess } from 'node:child_process';
import type { SpawnOptions, SpawnedProcess } from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from '../log.js';

/** Options for {@link createCliSpawner}. */
export interface CliSpawnerOptions {
  log: Logger;
  /** Receives the CLI child process as soon as it exists. */
  onSpawn: (child: ChildProcess) => void;
}

const MAX_STDERR_LINE = 2000;

/**
 * A `spawnClaudeCodeProcess` implementation. It spawns exactly what the SDK asks for (argv array, the SDK's env
 * and cwd) and additionally hands the child to the session, which needs its pid, and logs its stderr line by
 * line (the SDK's `stderr` option is not called when a custom spawner is used).
 */
export function createCliSpawner(opts: CliSpawnerOptions): (o: SpawnOptions) => SpawnedProcess {
  return (o) => {
    const child = spawn(o.command, o.args, {
      cwd: o.cwd,
      env: o.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // The SDK aborts this signal only after its stdin-EOF grace period, so it is safe to pass on.
      signal: o.signal,
    });
    opts.log.info('cli spawned', { pid: child.pid });
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) opts.log.info('cli stderr', { line: line.slice(0, MAX_STDERR_LINE) });
    });
    child.on('error', (err) => opts.log.warn('cli process error', { err }));
    child.on('exit', (code, sig) => opts.log.info('cli exited', { pid: child.pid, code, signal: sig }));
    opts.onSpawn(child);
    return child;
  };
}
