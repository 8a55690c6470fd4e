import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A directory for the run's shared PostgreSQL cluster, started by the first file that needs it.
    globalSetup: ['test/helpers/postgres-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One file at a time: integration tests measure a separate airlock process (memory) and
    // time-outs, which other files' load on a 2-core machine would make noisy.
    fileParallelism: false,
  },
});
