import { createCipheriv, createDecipheriv, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, createPublicKey } from 'node:crypto';
import { privateKeyObject, publicKeyObject, RAW_KEY_BYTES, type RawKeyPair } from './keys.js';

/**
 * Escrow v1: the block key encrypted to the auditor's X25519 key, so that an auditor can check
 * a block that is still open (its key not yet disclosed by a checkpoint).
 *   u8 version=1 | ephemeral X25519 public key (32) | nonce (12) | AES-256-GCM ciphertext (32) | tag (16)
 * key = HKDF-SHA256(ikm = X25519(ephemeral, auditor), salt = eph_pub || auditor_pub,
 *                   info = "immutalog escrow v1" 0x00 || log fingerprint (32) || u64 block index)
 * AAD = u64 block index, so a blob cannot be moved to another block.
 */
export const ESCROW_VERSION = 1;
const TAG_BYTES = 16;
export const ESCROW_BYTES = 1 + 32 + 12 + 32 + TAG_BYTES;
const INFO_LABEL = Buffer.from('immutalog escrow v1\0', 'latin1');
const NONCE_BYTES = 12;
const BLOCK_KEY_BYTES = 32;
const LOG_ID_BYTES = 32;

export class EscrowError extends Error {
  constructor(readonly code: 'ESCROW_MALFORMED' | 'ESCROW_DECRYPT_FAILED', message: string) {
    super(message);
  }
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function wrappingKey(shared: Buffer, ephPub: Buffer, auditorPub: Buffer, logId: Buffer, block: number): Buffer {
  if (logId.length !== LOG_ID_BYTES) throw new Error(`log id: expected ${LOG_ID_BYTES} raw bytes (SHA-256 of the identity), got ${logId.length}`);
  const info = Buffer.concat([INFO_LABEL, logId, u64(block)]);
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephPub, auditorPub]), info, 32));
}

export function escrowBlockKey(blockKey: Buffer, auditorPublicKey: Buffer, logId: Buffer, block: number): Buffer {
  if (blockKey.length !== BLOCK_KEY_BYTES) throw new Error(`block key: expected ${BLOCK_KEY_BYTES} bytes, got ${blockKey.length}`);
  const eph = generateKeyPairSync('x25519');
  const ephPub = Buffer.from(createPublicKey(eph.privateKey).export({ format: 'jwk' }).x as string, 'base64url');
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicKeyObject('X25519', auditorPublicKey) });
  const key = wrappingKey(shared, ephPub, auditorPublicKey, logId, block);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(u64(block));
  const ct = Buffer.concat([cipher.update(blockKey), cipher.final()]);
  return Buffer.concat([Buffer.from([ESCROW_VERSION]), ephPub, nonce, ct, cipher.getAuthTag()]);
}

export function openEscrow(blob: Buffer, auditor: RawKeyPair, logId: Buffer, block: number): Buffer {
  if (blob.length !== ESCROW_BYTES || blob[0] !== ESCROW_VERSION) {
    throw new EscrowError('ESCROW_MALFORMED', `escrow of block ${block}: expected ${ESCROW_BYTES} bytes of version ${ESCROW_VERSION}, got ${blob.length} bytes of version ${blob[0]}`);
  }
  const ephPub = blob.subarray(1, 1 + RAW_KEY_BYTES);
  const nonce = blob.subarray(33, 33 + NONCE_BYTES);
  const ct = blob.subarray(45, 45 + BLOCK_KEY_BYTES);
  const tag = blob.subarray(45 + BLOCK_KEY_BYTES);
  try {
    // A crafted low-order ephemeral key makes the key agreement itself fail: same verdict.
    const shared = diffieHellman({ privateKey: privateKeyObject('X25519', auditor), publicKey: publicKeyObject('X25519', ephPub) });
    const key = wrappingKey(shared, ephPub, auditor.publicKey, logId, block);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(u64(block));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    throw new EscrowError('ESCROW_DECRYPT_FAILED', `escrow of block ${block}: authentication failed (wrong auditor key, or the blob was altered)`);
  }
}
