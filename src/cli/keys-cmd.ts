import { readFileSync } from 'node:fs';
import type { Command } from './program.js';
import { auditorPublicFromPem } from '../chain/keys.js';
import { initLog, InitError } from '../log/init.js';
import { takeWriterLock, WriterLockedError, type WriterLock } from '../log/writer-lock.js';
import { DataDirError } from '../log/data-dir-check.js';
import { FileLockError } from '../store/file-lock.js';
import { CannotRun } from './cannot-run.js';
import { CONFIG_OPTION, DATA_DIR_OPTION, dataDirOf } from './common-args.js';

interface InitArgs {
  dataDir?: string;
  config?: string;
  auditorKeyOut?: string;
  auditorPublicKey?: string;
}

/** `immutalog keys init`. */
export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage the log identity and keys');
  keys
    .command('init')
    .description("create the log's signing identity and the auditor's X25519 key pair; print the identity fingerprint")
    .addOption(DATA_DIR_OPTION())
    .addOption(CONFIG_OPTION())
    .option('--auditor-key-out <file>', "where to write the auditor's private key (PEM); default <data-dir>/auditor-key.pem")
    .option('--auditor-public-key <file>', "use this auditor X25519 public key (PEM) instead of generating a pair: the private key never touches this host")
    .action(runKeysInit);
}

function runKeysInit(o: InitArgs): void {
  const dir = dataDirOf(o);
  let auditorPublic: Buffer | undefined;
  if (o.auditorPublicKey) {
    try {
      auditorPublic = auditorPublicFromPem(readFileSync(o.auditorPublicKey, 'utf8'));
    } catch (e) {
      throw new CannotRun(`--auditor-public-key: ${(e as Error).message}`);
    }
  }
  let lock: WriterLock | undefined;
  try {
    lock = takeWriterLock(dir);
    const r = initLog(dir, { ...(o.auditorKeyOut ? { auditorKeyOut: o.auditorKeyOut } : {}), ...(auditorPublic ? { auditorPublic } : {}) });
    process.stdout.write(`identity fingerprint: ${r.fingerprint}\n`);
    if (r.auditorKeyPath) {
      process.stderr.write(`The auditor's private key is at ${r.auditorKeyPath}.\nMove it OFF THIS HOST to the auditor now; keep only the fingerprint above on record.\n`);
    }
  } catch (e) {
    if (e instanceof InitError || e instanceof WriterLockedError || e instanceof FileLockError || e instanceof DataDirError) throw new CannotRun(e.message);
    throw e;
  } finally {
    lock?.release();
  }
}
