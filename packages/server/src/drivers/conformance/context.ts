import type { Server } from 'node:net';
import type { SandboxDriver } from '../driver.js';
import type { Harness } from './harness.js';

/** What a driver under test provides: the driver, the installDir its sandboxes get, and how to dispose of both. */
export interface DriverUnderTest {
  driver: SandboxDriver;
  /** Host directory passed as every spec's installDir (the suite writes one marker file into it). */
  installDir: string;
  /** Removes everything the factory made (temp dirs, cgroup parents, …). */
  cleanup(): Promise<void>;
}

/** Shared by the suite's test groups; filled in by beforeAll. */
export interface SuiteContext {
  dut: DriverUnderTest;
  h: Harness;
  /** A TCP server on host 127.0.0.1 that sandboxes must not reach. */
  tcp: Server;
  tcpPort: number;
  tcpConnections: number;
}
