// The `bitcoin-core` package costs a start about 200 ms and 30 MB: the daemon's and the CLI's
// module graphs must not load it until an RPC is made. Checked in a fresh node process (this
// one may have loaded it for other tests) against the built modules.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/paths.js';

const dist = (p: string): string => pathToFileURL(join(REPO_ROOT, 'dist', p)).href;

/** Runs `body` as an ES module; `loaded()` there says whether any bitcoin-core file is in the CommonJS cache. */
function run(body: string): string[] {
  const script = `
    import { createRequire } from 'node:module';
    const cache = createRequire(${JSON.stringify(dist('cli/main.js'))}).cache;
    const loaded = () => Object.keys(cache).some((k) => k.includes('/node_modules/bitcoin-core/'));
    ${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

describe('bitcoin-core is loaded on the first RPC, not before', () => {
  it('importing the daemon, the CLI commands and the node client leaves it unloaded', () => {
    const out = run(`
      await import(${JSON.stringify(dist('serve/daemon.js'))});
      await import(${JSON.stringify(dist('cli/verify-cmd.js'))});
      await import(${JSON.stringify(dist('bitcoind/transport.js'))});
      await import(${JSON.stringify(dist('bitcoind/reader.js'))});
      await import(${JSON.stringify(dist('bitcoind/writer.js'))});
      console.log(loaded());`);
    expect(out).toEqual(['false']);
  });

  it('the first call loads it, and a dead node still gives a classified error', () => {
    // Port 9 (discard) on loopback: nothing listens there, the connection is refused.
    const out = run(`
      const { connectChainReader } = await import(${JSON.stringify(dist('bitcoind/reader.js'))});
      const rpc = connectChainReader({ url: 'http://127.0.0.1:9', user: 'u', password: 'p', timeoutMs: 5000 });
      console.log(loaded());
      try { await rpc.getBlockCount(); console.log('answered'); } catch (e) { console.log(e.name + ':' + e.kind); }
      console.log(loaded());`);
    expect(out).toEqual(['false', 'BitcoinRpcError:unreachable', 'true']);
  });
});
