import type { KeyState } from '../chain/keystate.js';
import { checkpointHash, encodeCheckpoint, type CheckpointReason } from './format.js';
import { signCheckpoint } from './sign.js';

export interface ClosedBlock {
  index: number;
  firstSeq: number;
  count: number;
  chainHead: Buffer;
  entryRoot: Buffer;
}

/**
 * Checkpoint j from the closed block, the running key state (K_j and the signing key of j,
 * plus the next keys) and the previous checkpoint's hash. Pure: the caller persists it.
 */
export function buildCheckpoint(
  fingerprint: string,
  block: ClosedBlock,
  ks: KeyState & { next: NonNullable<KeyState['next']> },
  nextKeyEscrow: Buffer,
  previousHash: Buffer,
  timeUs: number,
  reason: CheckpointReason,
): { bytes: Buffer; hash: Buffer } {
  if (ks.block !== block.index) throw new Error(`key state holds block ${ks.block}, checkpoint closes block ${block.index}`);
  const cp = signCheckpoint(
    {
      fingerprint: Buffer.from(fingerprint, 'hex'),
      index: block.index,
      previousHash,
      firstSeq: block.firstSeq,
      count: block.count,
      chainHead: block.chainHead,
      entryRoot: block.entryRoot,
      blockKey: ks.blockKey,
      nextKeyEscrow,
      nextSigningKey: ks.next.signingPublic,
      timeUs,
      reason,
    },
    { publicKey: ks.signingPublic, privateKey: ks.signingPrivate },
  );
  const bytes = encodeCheckpoint(cp);
  return { bytes, hash: checkpointHash(bytes) };
}
