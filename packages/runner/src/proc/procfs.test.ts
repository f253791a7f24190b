import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { descendantsOf, listProcesses, parseStat, pidsWithEnv } from './procfs.js';
import { ProcessReaper } from './reaper.js';

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

const alive = (pid: number) => listProcesses().some((p) => p.pid === pid && p.state !== 'Z');

describe('procfs', () => {
  it('parses stat lines whose command contains spaces and parentheses', () => {
    const stat = '123 (a (b) c) S 45 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0';
    expect(parseStat(stat)).toEqual({ pid: 123, ppid: 45, state: 'S', startTime: 98765 });
  });

  it('walks descendants', () => {
    const procs = [
      { pid: 2, ppid: 1, state: 'S', startTime: 0 },
      { pid: 3, ppid: 2, state: 'S', startTime: 0 },
      { pid: 4, ppid: 3, state: 'S', startTime: 0 },
      { pid: 5, ppid: 1, state: 'S', startTime: 0 },
    ];
    expect(descendantsOf(2, procs).sort()).toEqual([3, 4]);
  });

  it('finds and kills a detached process by its environment marker', async () => {
    const marker = `test-${process.pid}-${Date.now()}`;
    // A double fork that leaves the parent's tree, as a daemonising tool would.
    const child = spawn('/bin/sh', ['-c', 'setsid node -e "setInterval(()=>{},1000)" & echo $!'], {
      env: { PATH: process.env['PATH'], BERTH_SESSION_ID: marker },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const pid = await new Promise<number>((resolve) =>
      child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
    );
    started.push(pid);
    await new Promise((r) => setTimeout(r, 200));
    expect(pidsWithEnv('BERTH_SESSION_ID', marker, listProcesses())).toContain(pid);

    const reaper = new ProcessReaper({ log: createLogger({ level: 'error' }), selfPid: process.pid });
    const killed = await reaper.reap({ cliPid: null, marker: { name: 'BERTH_SESSION_ID', value: marker } }, 200);
    expect(killed).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(false);
  });
});
