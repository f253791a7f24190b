import { describe, expect, it } from 'vitest';
import type { DriverCapabilities } from './drivers/driver.js';
import { ResourcesSchema, resolveResources, toSandboxResources } from './resources.js';

const caps: DriverCapabilities = {
  memoryLimit: true,
  cpuLimit: true,
  pidsLimit: true,
  diskLimit: true,
  survivesRestart: true,
  snapshot: true,
};
const defaults = { memoryMib: 1024, cpus: 1, pids: 512, diskMib: 5120 };

describe('berth.resources disk_mib', () => {
  it('takes the server default, an explicit size over it, and no quota when the default is 0', () => {
    expect(resolveResources(undefined, defaults, caps)).toMatchObject({ disk_mib: 5120 });
    expect(resolveResources({ disk_mib: 64 }, defaults, caps)).toMatchObject({ disk_mib: 64 });
    expect(resolveResources(undefined, { ...defaults, diskMib: 0 }, caps)).not.toHaveProperty('disk_mib');
    expect(resolveResources({ disk_mib: 100 }, { ...defaults, diskMib: 0 }, caps)).toMatchObject({ disk_mib: 100 });
    expect(toSandboxResources({ disk_mib: 100 })).toEqual({ diskMib: 100 });
  });

  it('bounds the size with messages that say the limit', () => {
    expect(ResourcesSchema.safeParse({ disk_mib: 63 }).error?.issues[0]?.message).toMatch(/at least 64/);
    expect(ResourcesSchema.safeParse({ disk_mib: 2_000_000 }).error?.issues[0]?.message).toMatch(/at most 1048576/);
    expect(ResourcesSchema.safeParse({ disk_mib: 64.5 }).success).toBe(false);
  });

  it('refuses an explicit quota the driver cannot enforce; the server default applies only where it can', () => {
    const none = { ...caps, diskLimit: false };
    // Visible, not silent: the resources returned for the environment carry no disk_mib.
    expect(resolveResources(undefined, defaults, none)).not.toHaveProperty('disk_mib');
    expect(() => resolveResources({ disk_mib: 64 }, defaults, none)).toThrow(/disk_mib cannot be enforced.*Remove it/);
    expect(resolveResources(undefined, { ...defaults, diskMib: 0 }, none)).not.toHaveProperty('disk_mib');
  });
});
