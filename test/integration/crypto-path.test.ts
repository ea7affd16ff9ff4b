import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/paths.js';
import { settledEntries, startDaemon, tempDataDir, type RunningDaemon } from '../helpers/daemon.js';
import { sendTcp } from '../helpers/send.js';
import { needClients } from '../clients/available.js';

// One log, written part by the native addon and part by the node:crypto fallback, read back by
// verify on either path: the two paths are one format. The daemon says which path it hashes with.

const clients = needClients('crypto-addon');
let d: RunningDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

function verify(dataDir: string, path: string): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLI, 'verify', '--data-dir', dataDir, '--json'], { env: { ...process.env, IMMUTALOG_CRYPTO: path } });
  return { code: r.status, out: r.stdout.toString() + r.stderr.toString() };
}

const lines = (from: number, n: number): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.from(`<134>1 2026-12-03T10:00:00Z host svc - - - message ${from + i}\n`));

describe('the crypto path of a real daemon', () => {
  clients.it('a log written half by the addon, half by node:crypto (across a block switch) verifies on both paths', async () => {
    const dataDir = tempDataDir();
    d = await startDaemon({ dataDir, args: ['--checkpoint-entries', '700'], env: { IMMUTALOG_CRYPTO: 'native' } });
    expect(d.status().crypto.path).toBe('native');
    expect(d.status().crypto.detail).toMatch(/^native addon over OpenSSL 3\./);
    await sendTcp(d.tcpPort, lines(0, 3000));
    await settledEntries(d, 3000);
    await d.stop();
    d = await startDaemon({ dataDir, args: ['--checkpoint-entries', '700'], env: { IMMUTALOG_CRYPTO: 'node' } });
    expect(d.status().crypto).toEqual({ path: 'node', detail: 'node:crypto (IMMUTALOG_CRYPTO=node)' });
    expect(d.stderr()).toMatch(/hashing with node:crypto/);
    await sendTcp(d.tcpPort, lines(3000, 3000));
    await settledEntries(d, 6000);
    await d.stop();
    d = undefined;
    for (const path of ['native', 'node']) {
      const v = verify(dataDir, path);
      expect(v.code, v.out).toBe(0);
      expect(JSON.parse(v.out.slice(0, v.out.lastIndexOf('}') + 1)).counts.entries).toBe(6000);
    }
  }, 120_000);

  it('IMMUTALOG_CRYPTO with another value: every command refuses in one line, exit 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'status', '--data-dir', tempDataDir()], { env: { ...process.env, IMMUTALOG_CRYPTO: 'fast' } });
    expect(r.status).toBe(2);
    expect(r.stderr.toString()).toBe('immutalog: IMMUTALOG_CRYPTO: expected auto, native or node, got "fast"\n');
  });
});
