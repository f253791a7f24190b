/**
 * Library surface of `@berth/runner`, for tests and tools. The runner itself runs from the bundle
 * (`dist/runner.cjs`, built from main.ts).
 */
export { Outbox, DEFAULT_OUTBOX_LIMITS, type OutboxEntry, type OutboxLimits } from './control/outbox.js';
export { EventMapper, type EventMapperOptions, type AbortReason } from './mapper/mapper.js';
export { toolResultContent, truncateText } from './mapper/content.js';
export { classifyModelError } from './mapper/errors.js';
export { buildQueryOptions, buildCliEnv, SESSION_MARKER_ENV } from './session/options.js';
export { RUNNER_VERSION, readRunnerEnv, type RunnerEnv } from './env.js';
export { PushQueue } from './session/input.js';
