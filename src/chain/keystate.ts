import { randomBytes } from 'node:crypto';
import { generateSigningKeyPair } from './keys.js';

/**
 * The running secrets of the writer: the open block's MAC key and the current signing key.
 * They live in a file beside the database (mode 0600, log/keystate-file.ts), never in it, so that
 * a copy of the database or of its backups gives an attacker no key. This module is the file's
 * format only: no I/O.
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

/** The key-state file's bytes: one JSON object and a newline. */
export function encodeKeyState(s: KeyState): string {
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

/** Reads the key-state file's text; `path` names it in errors. Throws KeyStateError. */
export function decodeKeyState(text: string, path: string): KeyState {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text);
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
