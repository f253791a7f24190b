export { DISK_MIB_MAX, DISK_MIB_MIN, createWorkspaceDisk, formatImage, removeWorkspaceDisk } from './quota.js';
export type { RemovedDisk, WorkspaceDiskOptions, WorkspaceDiskPaths } from './quota.js';
export { FormattedImagePool } from './pool.js';
export { loopDevicesOf, mountsAt, workspaceDiskUnsupported } from './host.js';
export { attachWorkspaceDisk, detachWorkspaceDisk, DiskHandoverRefused } from './handover.js';
export type { AttachDiskOptions } from './handover.js';
