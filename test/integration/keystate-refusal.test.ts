// A start refuses a key state no crash can leave (issue 10, item 9): key state ahead of the
// database (an older database restored), behind it (an older key-state file restored), a
// signing key the newest checkpoint did not certify, or a private key that does not belong to
// its public key. Each refusal exits 2 with the reason and writes nothing; the states a crash
// leaves are recovered as before (test/integration/checkpoint-crash.test.ts).
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSigningKeyPair } from '../../src/chain/keys.js';
import { logFileHashes } from '../helpers/log-files.js';
import {
  expectVerified,
  fingerprintOf,
  range,
  readLog,
  refusedServe,
  scratchForFile,
  sendCommitted,
  storedTags,
} from '../helpers/tamper-log.js';

const scratch = scratchForFile();
const ARGS = ['--checkpoint-entries', '5', '--checkpoint-interval', '3600'];
const DB_FILES = ['immutalog.sqlite', 'immutalog.sqlite-wal', 'immutalog.sqlite-shm'];

/** A log with `n` entries (checkpoints every 5), cleanly stopped. */
const stoppedLog = (dir: string, n: number, prefix: string, from = 0): Promise<void> => scratch.stoppedLog(dir, ARGS, range(n, prefix), from);

type KeyStateJson = Record<string, string | number>;
const readKs = (dir: string): KeyStateJson => JSON.parse(readFileSync(join(dir, 'keystate.json'), 'utf8')) as KeyStateJson;
const writeKs = (dir: string, ks: KeyStateJson): void => writeFileSync(join(dir, 'keystate.json'), JSON.stringify(ks) + '\n', { mode: 0o600 });

/** serve must exit 2 at once, say why (matching `reason`), and leave every file of the log as it was. */
async function expectRefused(dir: string, reason: RegExp): Promise<string> {
  const checkpointsBefore = readLog(dir).checkpoints.length;
  const before = logFileHashes(dir);
  const r = await refusedServe(dir, ARGS);
  expect(r.code, r.output).toBe(2);
  expect(r.output).toMatch(reason);
  expect(readLog(dir).checkpoints.length).toBe(checkpointsBefore);
  expect(logFileHashes(dir)).toEqual(before);
  return r.output;
}

describe('a start refuses a key state no crash can leave', () => {
  it('an older database restored under the newer key state: exit 2, says the database is older and what to do, writes nothing', async () => {
    const dir = scratch.dir('immutalog-ks-olddb-');
    await stoppedLog(dir, 10, 'a');
    const backup = scratch.dir('immutalog-ks-olddb-backup-');
    for (const f of DB_FILES) if (existsSync(join(dir, f))) cpSync(join(dir, f), join(backup, f));
    const oldNewest = readLog(dir).checkpoints.at(-1)!.idx;

    await stoppedLog(dir, 20, 'b', 10);
    const ksBlock = readKs(dir).block as number;
    expect(ksBlock).toBeGreaterThan(oldNewest + 1);
    for (const f of DB_FILES) rmSync(join(dir, f), { force: true });
    for (const f of DB_FILES) if (existsSync(join(backup, f))) cpSync(join(backup, f), join(dir, f));

    const out = await expectRefused(dir, /older/);
    expect(out).toContain(`block ${ksBlock}`);
    expect(out).toContain(`checkpoint ${oldNewest}`);
    // The old copy itself is intact: it still verifies up to its own newest checkpoint.
    expectVerified(dir);
  });

  it('an older key-state file restored under the newer database: exit 2, writes nothing', async () => {
    const dir = scratch.dir('immutalog-ks-oldks-');
    await stoppedLog(dir, 10, 'a');
    const oldKs = readFileSync(join(dir, 'keystate.json'));
    await stoppedLog(dir, 10, 'b', 10);
    writeFileSync(join(dir, 'keystate.json'), oldKs, { mode: 0o600 });
    await expectRefused(dir, /older/);
  });

  it('signing_private that does not belong to signing_public: exit 2, writes nothing; the right file put back, the log goes on', async () => {
    const dir = scratch.dir('immutalog-ks-badpriv-');
    await stoppedLog(dir, 7, 'a');
    const good = readKs(dir);
    writeKs(dir, { ...good, signing_private: generateSigningKeyPair().privateKey.toString('hex') });
    await expectRefused(dir, /signing_private/);

    writeKs(dir, good);
    await stoppedLog(dir, 3, 'b', 7);
    expect(storedTags(dir)).toEqual([...range(7, 'a'), ...range(3, 'b')]);
    expectVerified(dir);
  });

  it('a pending next_signing_private that does not belong to next_signing_public (after a crash): exit 2, writes nothing', async () => {
    const dir = scratch.dir('immutalog-ks-badnext-');
    const d = await scratch.daemon(dir, ARGS);
    await sendCommitted(d, range(7, 'a'));
    await d.kill();
    const ks = readKs(dir);
    expect(ks.next_signing_private, 'a running daemon keeps the next keys pending').toBeDefined();
    writeKs(dir, { ...ks, next_signing_private: generateSigningKeyPair().privateKey.toString('hex') });
    await expectRefused(dir, /next_signing_private/);
  });

  it('keystate.json gone from a log with checkpoints but no entries (auditor key moved off the host): exit 2, no new identity over the old checkpoints', async () => {
    const dir = scratch.dir('immutalog-ks-gone-');
    const d = await scratch.daemon(dir, ARGS);
    expect(await d.stop()).toBe(0);
    const fp = fingerprintOf(dir);
    expect(readLog(dir).checkpoints.length).toBeGreaterThan(0);
    expect(readLog(dir).entries.length).toBe(0);
    rmSync(join(dir, 'keystate.json'));
    rmSync(join(dir, 'auditor-key.pem'));
    await expectRefused(dir, /keystate\.json is missing/);
    expect(fingerprintOf(dir)).toBe(fp);
    expect(existsSync(join(dir, 'auditor-key.pem'))).toBe(false);
  });

  it('the database gone from beside its keystate.json: exit 2, no new log, the key state not overwritten', async () => {
    const dir = scratch.dir('immutalog-ks-nodb-');
    await stoppedLog(dir, 3, 'a');
    for (const f of DB_FILES) rmSync(join(dir, f), { force: true });
    rmSync(join(dir, 'auditor-key.pem'));
    const before = logFileHashes(dir);
    const r = await refusedServe(dir, ARGS);
    expect(r.code, r.output).toBe(2);
    expect(r.output).toMatch(/immutalog\.sqlite is missing/);
    expect(logFileHashes(dir)).toEqual(before);
    expect(existsSync(join(dir, 'immutalog.sqlite'))).toBe(false);
    expect(existsSync(join(dir, 'auditor-key.pem'))).toBe(false);
  });

  it('a signing key pair the newest checkpoint did not certify: exit 2, writes nothing', async () => {
    const dir = scratch.dir('immutalog-ks-uncertified-');
    await stoppedLog(dir, 7, 'a');
    const other = generateSigningKeyPair();
    writeKs(dir, { ...readKs(dir), signing_public: other.publicKey.toString('hex'), signing_private: other.privateKey.toString('hex') });
    await expectRefused(dir, /certif/);
  });
});
