import { sign, verify } from 'node:crypto';
import { ESCROW_BYTES } from '../chain/escrow.js';
import { privateKeyObject, publicKeyObject, type RawKeyPair } from '../chain/keys.js';

/**
 * Genesis statement v1, signed by the identity key when the log is created:
 *   "immutalog genesis statement v1" 0x00 || fingerprint (32) || u64 created_at_us || escrow of K_0 (93)
 * It pins the two facts no checkpoint covers: when the log began (so a log with no checkpoint at
 * all is only acceptable while it is younger than the heartbeat) and block 0's escrowed key
 * (every later block's escrow is signed inside the checkpoint before it).
 */
const CONTEXT = Buffer.from('immutalog genesis statement v1\0', 'latin1');

export function genesisStatement(fingerprint: Buffer, createdAtUs: number, escrow0: Buffer): Buffer {
  if (fingerprint.length !== 32) throw new RangeError(`fingerprint: expected 32 bytes, got ${fingerprint.length}`);
  if (escrow0.length !== ESCROW_BYTES) throw new RangeError(`escrow: expected ${ESCROW_BYTES} bytes, got ${escrow0.length}`);
  const t = Buffer.alloc(8);
  t.writeUInt32BE(Math.floor(createdAtUs / 0x1_0000_0000), 0);
  t.writeUInt32BE(createdAtUs >>> 0, 4);
  return Buffer.concat([CONTEXT, fingerprint, t, escrow0]);
}

export function signGenesis(statement: Buffer, identity: RawKeyPair): Buffer {
  return sign(null, statement, privateKeyObject('Ed25519', identity));
}

export function genesisSignatureValid(statement: Buffer, signature: Buffer, identityPublic: Buffer): boolean {
  try {
    return verify(null, statement, publicKeyObject('Ed25519', identityPublic), signature);
  } catch {
    return false;
  }
}
