import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import { auditorPrivateKeyPem, fingerprint, generateAuditorKeyPair, generateSigningKeyPair, RAW_KEY_BYTES } from '../chain/keys.js';
import { writeFileAtomic } from './atomic-file.js';
import { saveKeyState } from './keystate-file.js';
import { escrowBlockKey } from '../chain/escrow.js';
import { genesisStatement, signGenesis } from '../checkpoint/genesis.js';
import { LogStore } from '../store/log-store.js';
import { dataPaths } from './data-dir.js';

export interface InitResult {
  fingerprint: string;
  identityPublic: Buffer;
  auditorPublic: Buffer;
  /** Where the auditor's private key was written, or undefined when the operator supplied only its public key. */
  auditorKeyPath: string | undefined;
}

export class InitError extends Error {
  constructor(readonly code: 'ALREADY_INITIALISED' | 'KEYSTATE_MISSING' | 'DATABASE_MISSING' | 'KEY_FILE_EXISTS', message: string) {
    super(message);
  }
}

/**
 * Creates a log: its signing identity, the auditor's key pair (unless the auditor brings a
 * public key made elsewhere, which is better), the first block key, and the database.
 * Writes the database's identity first and the key state last: a crash in between leaves a log
 * with no entries and no key state, which `initLog` may safely redo.
 */
export function initLog(dir: string, opts: { auditorKeyOut?: string; auditorPublic?: Buffer; now?: Date }): InitResult {
  const p = dataPaths(dir);
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  // The key state is written last, after the database's identity: a key state with no log
  // beside it is no crash's doing, and it is the only way to extend the log it belongs to.
  const keyStateOrphaned = (): InitError =>
    new InitError(
      'DATABASE_MISSING',
      `${p.keyState} is there but ${p.database} is missing or holds no log: put back the database (with its -wal file) that belongs to this key state. To start a new log, use another data directory; this key state is not overwritten.`,
    );
  if (existsSync(p.keyState) && !existsSync(p.database)) throw keyStateOrphaned();
  const store = LogStore.open(p.database, { create: true });
  try {
    if (store.meta.get('identity_public') === undefined && existsSync(p.keyState)) throw keyStateOrphaned();
    if (store.meta.get('identity_public') !== undefined) {
      if (existsSync(p.keyState)) {
        throw new InitError('ALREADY_INITIALISED', `${dir} already holds a log (fingerprint ${store.meta.get('fingerprint')}); refusing to replace its keys`);
      }
      // Only the crash between this function's two writes leaves an identity with no key state,
      // and then nothing has been received or sealed. Heartbeat checkpoints count: a new identity
      // under them would break the log as surely as one under entries.
      if (store.entries.count() > 0 || store.checkpoints.last() !== undefined) {
        throw new InitError(
          'KEYSTATE_MISSING',
          `${p.keyState} is missing, but ${dir} holds a log (fingerprint ${store.meta.get('fingerprint')}) with entries or checkpoints: the writer's keys are gone, so this log cannot be extended (it still verifies). Restore ${basename(p.keyState)}, or start a new log in another data directory.`,
        );
      }
    }
    const identity = generateSigningKeyPair();
    const fp = fingerprint(identity.publicKey);
    let auditorPublic = opts.auditorPublic;
    let auditorKeyPath: string | undefined;
    if (auditorPublic === undefined) {
      const auditor = generateAuditorKeyPair();
      auditorPublic = auditor.publicKey;
      auditorKeyPath = opts.auditorKeyOut ?? p.defaultAuditorKey;
      if (existsSync(auditorKeyPath)) {
        throw new InitError('KEY_FILE_EXISTS', `${auditorKeyPath} exists; refusing to overwrite an auditor key`);
      }
      writeFileAtomic(auditorKeyPath, auditorPrivateKeyPem(auditor), 0o600);
    } else if (auditorPublic.length !== RAW_KEY_BYTES) {
      throw new Error(`auditor public key: expected ${RAW_KEY_BYTES} raw bytes, got ${auditorPublic.length}`);
    }
    const createdAtUs = (opts.now ?? new Date()).getTime() * 1000;
    const blockKey = randomBytes(32);
    const escrow0 = escrowBlockKey(blockKey, auditorPublic, Buffer.from(fp, 'hex'), 0);
    const statement = genesisStatement(Buffer.from(fp, 'hex'), createdAtUs, escrow0);
    store.atomically(() => {
      store.meta.set({
        identity_public: identity.publicKey.toString('hex'),
        fingerprint: fp,
        auditor_public: auditorPublic!.toString('hex'),
        created_at: new Date(createdAtUs / 1000).toISOString(),
        created_at_us: String(createdAtUs),
        genesis_signature: signGenesis(statement, identity).toString('hex'),
      });
      store.blocks.replaceFirst({ block: 0, first_seq: 0, opened_at_us: createdAtUs, escrow: escrow0 });
    });
    saveKeyState(p.keyState, {
      version: 1,
      fingerprint: fp,
      block: 0,
      blockKey,
      signingPublic: identity.publicKey,
      signingPrivate: identity.privateKey,
    });
    return { fingerprint: fp, identityPublic: identity.publicKey, auditorPublic, auditorKeyPath };
  } finally {
    store.close();
  }
}

export function isInitialised(dir: string): boolean {
  const p = dataPaths(dir);
  return existsSync(p.keyState) && existsSync(p.database);
}
