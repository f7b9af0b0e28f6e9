import { defineConfig } from 'vitest/config';

// Mesa's EGL (WebGPU through Dawn on llvmpipe) reads this with getenv: it must be in the real process
// environment before the worker threads start, which a worker's own process.env is not
process.env.EGL_PLATFORM ??= 'surfaceless';

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
