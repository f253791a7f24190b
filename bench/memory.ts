import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Process memory after a full GC, for the load and idle-overhead benchmarks. */
export interface MemorySample {
  rssMib: number;
  heapMib: number;
  externalMib: number;
}

let gc: (() => void) | undefined;

/** Runs a full GC (exposing `gc` at run time, no node flag needed), lets the loop settle, and samples memory. */
export async function gcMemory(): Promise<MemorySample> {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  return { rssMib: mib(m.rss), heapMib: mib(m.heapUsed), externalMib: mib(m.external + m.arrayBuffers) };
}
