import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every command reads /etc/immutalog/immutalog.conf when it exists; a file there on the test
    // machine must not reach the tests (set but empty: no default file). Children inherit it.
    env: { IMMUTALOG_CONFIG: '' },
  },
});
