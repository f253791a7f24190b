export * from './ids.js';
export * from './paths.js';
export * from './events.js';
export * from './control.js';
export * from './ndjson.js';
