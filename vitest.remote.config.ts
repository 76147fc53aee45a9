import { defineConfig } from 'vitest/config';

/**
 * `npm run test:remote`: the HTTP contract suite against a deployment named by SLUICE_URL
 * (SLUICE_AUTH=iam to sign with SigV4). No emulators: the deployment brings its own storage.
 * The default config (vitest.config.ts) excludes these files.
 */
export default defineConfig({
  test: {
    include: ['test/remote/**/*.test.ts'],
    // One topic's life in order; each step needs the one before.
    sequence: { concurrent: false },
    fileParallelism: false,
    // Cold starts on Lambda take seconds; API Gateway gives up at 30.
    testTimeout: 35_000,
    hookTimeout: 35_000,
  },
});
