import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, existsSync, unlinkSync } from 'node:fs';
import { open as openAsync, rename as renameAsync } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { generateSigningKeyPair } from './keys.js';

/**
 * The running secrets of the writer: the open block's MAC key and the current signing key.
 * They live in this file beside the database (mode 0600), never in it, so that a copy of the
 * database or of its backups gives an attacker no key.
 */
export interface KeyState {
  version: 1;
  /** Hex SHA-256 of the identity public key; guards against pairing a key file with another log. */
  fingerprint: string;
  /** Index of the open block and its MAC key. */
  block: number;
  blockKey: Buffer;
  /** Current Ed25519 signing key pair (signs the checkpoint that closes `block`). */
  signingPublic: Buffer;
  signingPrivate: Buffer;
  /**
   * Keys of the next block, written before checkpoint `block` is: if the process dies between
   * writing that checkpoint and promoting these, they are still here for the block it opened.
   */
  next?: { blockKey: Buffer; signingPublic: Buffer; signingPrivate: Buffer };
}

export const KEYSTATE_FILE = 'keystate.json';

export class KeyStateError extends Error {
  constructor(readonly code: 'KEYSTATE_MISSING' | 'KEYSTATE_MALFORMED', message: string) {
    super(message);
  }
}

/** A new block key and signing key pair, for the checkpoint after the current one. */
export function freshNextKeys(): NonNullable<KeyState['next']> {
  const signing = generateSigningKeyPair();
  return { blockKey: randomBytes(32), signingPublic: signing.publicKey, signingPrivate: signing.privateKey };
}

export function keyStatePath(dataDir: string): string {
  return join(dataDir, KEYSTATE_FILE);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `content` to `path` so that a crash leaves either the old file or the new one whole. */
export function writeFileAtomic(path: string, content: string | Buffer, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    try {
      writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    removeFailedTemp(tmp);
    throw e;
  }
  fsyncDir(dirname(path));
}

/**
 * A write that failed (ENOSPC, EIO) leaves its partial temp file: removed, so that it holds no
 * space on a full disk and the retry starts afresh.
 */
function removeFailedTemp(tmp: string): void {
  try {
    unlinkSync(tmp);
  } catch {
    // Never created, or already renamed.
  }
}

/**
 * writeFileAtomic on the libuv thread pool: the same write, fsync, rename and directory fsync,
 * without stalling the thread that receives datagrams while the disk flushes.
 */
export async function writeFileAtomicAsync(path: string, content: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await openAsync(tmp, 'w', mode);
  try {
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await renameAsync(tmp, path);
  } catch (e) {
    removeFailedTemp(tmp);
    throw e;
  }
  const dh = await openAsync(dirname(path), 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

export function saveKeyState(path: string, s: KeyState): void {
  writeFileAtomic(path, keyStateJson(s), 0o600);
}

/** saveKeyState without blocking the calling thread; resolves once the file is durable. */
export function saveKeyStateAsync(path: string, s: KeyState): Promise<void> {
  return writeFileAtomicAsync(path, keyStateJson(s), 0o600);
}

function keyStateJson(s: KeyState): string {
  const json = JSON.stringify({
    version: s.version,
    fingerprint: s.fingerprint,
    block: s.block,
    block_key: s.blockKey.toString('hex'),
    signing_public: s.signingPublic.toString('hex'),
    signing_private: s.signingPrivate.toString('hex'),
    ...(s.next
      ? {
          next_block_key: s.next.blockKey.toString('hex'),
          next_signing_public: s.next.signingPublic.toString('hex'),
          next_signing_private: s.next.signingPrivate.toString('hex'),
        }
      : {}),
  });
  return json + '\n';
}

function hexField(o: Record<string, unknown>, name: string, bytes: number, path: string): Buffer {
  const v = o[name];
  if (typeof v !== 'string' || !/^[0-9a-f]*$/.test(v) || v.length !== bytes * 2) {
    throw new KeyStateError('KEYSTATE_MALFORMED', `${path}: ${name}: expected ${bytes} bytes of hex, got ${JSON.stringify(v)}`);
  }
  return Buffer.from(v, 'hex');
}

export function loadKeyState(path: string): KeyState {
  if (!existsSync(path)) throw new KeyStateError('KEYSTATE_MISSING', `${path}: no key-state file`);
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new KeyStateError('KEYSTATE_MALFORMED', `${path}: expected JSON, got a parse error: ${(e as Error).message}`);
  }
  if (o.version !== 1) throw new KeyStateError('KEYSTATE_MALFORMED', `${path}: expected version 1, got ${JSON.stringify(o.version)}`);
  if (typeof o.fingerprint !== 'string' || typeof o.block !== 'number' || !Number.isSafeInteger(o.block) || o.block < 0) {
    throw new KeyStateError('KEYSTATE_MALFORMED', `${path}: expected fingerprint and a block index`);
  }
  return {
    version: 1,
    fingerprint: o.fingerprint,
    block: o.block,
    blockKey: hexField(o, 'block_key', 32, path),
    signingPublic: hexField(o, 'signing_public', 32, path),
    signingPrivate: hexField(o, 'signing_private', 32, path),
    ...(o.next_block_key !== undefined
      ? {
          next: {
            blockKey: hexField(o, 'next_block_key', 32, path),
            signingPublic: hexField(o, 'next_signing_public', 32, path),
            signingPrivate: hexField(o, 'next_signing_private', 32, path),
          },
        }
      : {}),
  };
}

/** Leftover temp files from a crash between write and rename hold no state anyone needs. */
export function removeStaleTemps(path: string, names: string[]): void {
  for (const n of names) if (n.startsWith(`${KEYSTATE_FILE}.tmp-`)) unlinkSync(join(dirname(path), n));
}
