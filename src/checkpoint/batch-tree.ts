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

/**
 * A checkpoint's proof as hash steps, each SHA-256(prefix || msg || suffix), from c_j to the
 * round's root: the leaf (prefix 0x00), then one node per path element (prefix 0x01 and the
 * sibling on its side), sides as RFC 9162 §2.1.3.2 verifies them. The OpenTimestamps proof
 * (bitcoin/ots-anchor.ts) replays them as prepend/append/sha256. Undefined when the path has the
 * wrong length or shape for (leafIndex, treeSize).
 */
export function anchorPathSteps(p: Omit<CheckpointProof, 'checkpoint'>): { prefix: Buffer; suffix: Buffer }[] | undefined {
  const { leafIndex, treeSize, path } = p;
  if (!Number.isInteger(leafIndex) || !Number.isInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) return undefined;
  if (path.some((x) => x.length !== 32)) return undefined;
  const steps = [{ prefix: Buffer.from([0x00]), suffix: Buffer.alloc(0) }];
  let fn = leafIndex;
  let sn = treeSize - 1;
  for (const sibling of path) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      steps.push({ prefix: Buffer.concat([Buffer.from([0x01]), sibling]), suffix: Buffer.alloc(0) });
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      steps.push({ prefix: Buffer.from([0x01]), suffix: Buffer.from(sibling) });
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? steps : undefined;
}
