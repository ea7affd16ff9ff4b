import { createHash, createHmac } from 'node:crypto';

export const MAC_BYTES = 32;
const GENESIS_LABEL = Buffer.from('immutalog genesis v1\0', 'latin1');

/**
 * h_{-1}: binds the first MAC to the log's identity, so a chain cannot be moved under
 * another identity without every MAC changing.
 */
export function genesisHash(identityPublicKey: Buffer): Buffer {
  return createHash('sha256').update(GENESIS_LABEL).update(identityPublicKey).digest();
}

/** h_i = HMAC-SHA256(K_j, h_{i-1} || enc(entry_i)). */
export function chainMac(blockKey: Buffer, previous: Buffer, encodedEntry: Buffer): Buffer {
  return createHmac('sha256', blockKey).update(previous).update(encodedEntry).digest();
}
