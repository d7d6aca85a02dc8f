import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests bind real ports and spawn processes: keep parallelism to the 2 cores.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
