import { inclusionProof, leafHash, merkleRoot, rootFromInclusionProof } from './merkle.js';

/** Where one checkpoint sits in an anchor round's tree, and the path from it to the root. */
export interface CheckpointProof {
  checkpoint: number;
  leafIndex: number;
  treeSize: number;
  path: Buffer[];
}

/**
 * An anchor round: one RFC 6962 tree over the hashes c_j of every checkpoint not yet anchored,
 * in index order (leaf = SHA-256(0x00 || c_j)). Its root is the 32 bytes of the OP_RETURN.
 */
export function buildAnchorTree(checkpoints: readonly { index: number; hash: Buffer }[]): { root: Buffer; proofs: CheckpointProof[] } {
  if (checkpoints.length === 0) throw new RangeError('an anchor round needs at least one checkpoint');
  const leaves = checkpoints.map((c) => leafHash(c.hash));
  return {
    root: merkleRoot(leaves),
    proofs: checkpoints.map((c, i) => ({ checkpoint: c.index, leafIndex: i, treeSize: leaves.length, path: inclusionProof(leaves, i) })),
  };
}

/** The root a checkpoint's stored proof leads to (undefined when the proof is malformed). */
export function anchorRootOf(checkpointHash: Buffer, p: Omit<CheckpointProof, 'checkpoint'>): Buffer | undefined {
  return rootFromInclusionProof(leafHash(checkpointHash), p.leafIndex, p.treeSize, p.path);
}

/** Proof paths are stored as their 32-byte hashes end to end. */
export function packPath(path: readonly Buffer[]): Buffer {
  return Buffer.concat(path);
}

export function unpackPath(b: Buffer): Buffer[] | undefined {
  if (b.length % 32 !== 0) return undefined;
  const out: Buffer[] = [];
  for (let o = 0; o < b.length; o += 32) out.push(b.subarray(o, o + 32));
  return out;
}
