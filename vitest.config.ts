import { defineConfig } from 'vitest/config';

// One vitest run covers every package. Tests spawn real sandboxes and the real Claude CLI, so they run with
// modest parallelism on the 2-core machines and with generous timeouts.
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
