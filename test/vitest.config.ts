import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Lives in test/ (the repository's top level holds only src, etc, systemd, test and the package
// files); `npm test` names it, and the project root is the repository.
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    // Integration tests start real daemons and real clients; these bound a hang, not a speed.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Every command reads /etc/immutalog/immutalog.conf when it exists; a file there on the test
    // machine must not reach the tests (set but empty: no default file). Children inherit it.
    env: { IMMUTALOG_CONFIG: '' },
  },
});
