/**
 * The zod-free part of the protocol: framing and fixed in-sandbox paths. Import it as `@berth/protocol/wire` where
 * start-up time matters (the runner sends `hello` before loading any schema); `wire.test.ts` keeps it zod-free.
 */
export * from './ndjson.js';
export * from './paths.js';
