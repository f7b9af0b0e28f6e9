import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'samples/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'threads',
    // the verifier runs after every pass in every pipeline the tests drive (also in CLI child processes)
    env: { KILN_VERIFY_EACH: '1' },
  },
});
