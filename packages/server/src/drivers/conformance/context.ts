import type { Server } from 'node:net';
import type { SandboxDriver, SandboxInfo } from '../driver.js';
import type { Harness } from './harness.js';

/** What a driver under test provides: the driver, the installDir its sandboxes get, and how to dispose of both. */
export interface DriverUnderTest {
  driver: SandboxDriver;
  /** Host directory passed as every spec's installDir (the suite writes one marker file into it). */
  installDir: string;
  /** Removes everything the factory made (temp dirs, cgroup parents, …). */
  cleanup(): Promise<void>;
  /**
   * The host pids of a sandbox, found independently of the driver (not through its cgroup). Default: the live
   * processes running as the sandbox's host uid, which is right for drivers that run the guest as that uid
   * (bwrap); gVisor runs its guest inside the Sentry, so it finds its runsc processes and their descendants.
   */
  hostProcesses?: (info: SandboxInfo) => Promise<number[]>;
  /**
   * The error a write to a read-only path gives the sandbox user (default `error:EROFS`). gVisor checks
   * permissions before the mount's read-only flag, so a non-owner gets `error:EACCES` there.
   */
  readOnlyError?: string;
  /** The `pids.max` the driver writes for `resources.pids` (default: the same number). */
  hostPidsMax?: (pids: number) => number;
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
