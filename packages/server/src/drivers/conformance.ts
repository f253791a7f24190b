import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import type { DriverUnderTest, SuiteContext } from './conformance/context.js';
import { Harness } from './conformance/harness.js';
import { isolationTests } from './conformance/isolation.js';
import { lifecycleTests } from './conformance/lifecycle.js';
import { limitTests } from './conformance/limits.js';
import { readOnlyFileTests } from './conformance/readonly-files.js';
import { sharedTests } from './conformance/shared.js';

export type { DriverUnderTest } from './conformance/context.js';

/** How a driver implementation plugs into the shared suite. */
export interface DriverConformanceOptions {
  /** Suite title, e.g. `bwrap`. */
  name: string;
  /** A fresh driver with its own temp state; called once per suite. */
  create: () => Promise<DriverUnderTest>;
  /** A reason to skip the whole suite on this host (shown in the suite title), or false. */
  skip?: string | false;
}

/**
 * The one suite every SandboxDriver must pass, with real sandboxes running small node probes: identity and
 * capabilities, network (only lo), filesystem view, environment, isolation between sandboxes, lifecycle and clean
 * destroy (processes, cgroups, mounts, directories), refusals, the resource limits the driver declares, and shared
 * sandboxes (or their refusal).
 */
export function runDriverConformance(opts: DriverConformanceOptions): void {
  const reason = opts.skip ?? false;
  describe.skipIf(reason !== false)(`${opts.name} driver conformance${reason ? ` (skipped: ${reason})` : ''}`, () => {
    const ctx = { tcpConnections: 0 } as SuiteContext;
    beforeAll(async () => {
      ctx.dut = await opts.create();
      ctx.h = await Harness.start(ctx.dut.driver, ctx.dut.installDir);
      await writeFile(join(ctx.dut.installDir, 'conformance-marker.txt'), 'conformance', { mode: 0o644 });
      ctx.tcp = createServer((s) => {
        ctx.tcpConnections++;
        s.destroy();
      });
      await new Promise<void>((r) => ctx.tcp.listen(0, '127.0.0.1', r));
      ctx.tcpPort = (ctx.tcp.address() as { port: number }).port;
    });
    afterEach(async () => {
      await ctx.h?.destroyAll();
    });
    afterAll(async () => {
      await ctx.h?.close();
      await new Promise((r) => (ctx.tcp ? ctx.tcp.close(r) : r(undefined)));
      await ctx.dut?.cleanup();
    });
    isolationTests(ctx);
    lifecycleTests(ctx);
    limitTests(ctx);
    readOnlyFileTests(ctx);
    sharedTests(ctx);
  });
}
