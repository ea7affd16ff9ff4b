import { anchorPathSteps, unpackPath } from '../checkpoint/batch-tree.js';
import { checkpointHash } from '../checkpoint/format.js';
import { anchorTimestampOps, OtsPathError, txTimestampOps, type TxOts } from '../bitcoin/ots-anchor.js';
import { OtsLimitError, serializeDetachedTimestamp } from '../bitcoin/ots.js';
import type { AnchorRow, LogStore } from '../store/log-store.js';

/**
 * A checkpoint's OpenTimestamps proof, from what the log keeps of its anchor. Once an anchor is
 * mined, its row holds the version that was mined (tx_hex, root) with its block (height, tx
 * index, branch), and anchor_proofs that version's tree (anchors.adoptMinedVersion): the proof
 * is built from exactly those, never from a replaced version.
 */
export type OtsProof =
  | { ok: true; checkpoint: number; checkpointBytes: Buffer; ots: Buffer; anchor: number; txid: string; height: number; blockHash: string }
  | { ok: false; checkpoint: number; why: 'missing' | 'unanchored' | 'unmined' | 'invalid'; message: string };

/** File names: the checkpoint's 383 bytes and their proof, as `ots stamp FILE` would name FILE.ots. */
export const checkpointFileName = (checkpoint: number): string => `checkpoint-${checkpoint}.bin`;
export const otsFileName = (checkpoint: number): string => `${checkpointFileName(checkpoint)}.ots`;

/** Builds proofs for one store, taking each anchor's transaction part once. */
export class OtsProofs {
  private readonly txParts = new Map<number, TxOts | Error>();

  constructor(private readonly store: LogStore) {}

  of(checkpoint: number): OtsProof {
    const no = (why: Exclude<OtsProof, { ok: true }>['why'], message: string): OtsProof => ({ ok: false, checkpoint, why, message });
    const row = this.store.checkpoints.get(checkpoint);
    if (!row) {
      const last = this.store.checkpoints.last();
      return no('missing', `checkpoint ${checkpoint} does not exist (${last ? `expected one of 0..${last.idx}` : 'the log has no checkpoint yet'})`);
    }
    const proof = this.store.anchors.proofOf(checkpoint);
    if (!proof) return no('unanchored', `checkpoint ${checkpoint} is not anchored yet: it waits for the next anchor round (\`immutalog anchor --now\` runs one)`);
    const anchor = this.store.anchors.get(proof.anchor_id);
    if (!anchor) return no('invalid', `checkpoint ${checkpoint}'s proof names anchor ${proof.anchor_id}, which is not in the database (run \`immutalog verify\`)`);
    if (anchor.state !== 'mined' && anchor.state !== 'final') {
      return no('unmined', `checkpoint ${checkpoint} is anchored by anchor ${anchor.id} (tx ${anchor.txid}, ${anchor.state}), which is not mined yet: try again once \`immutalog status\` shows it mined`);
    }
    const bad = (why: string): OtsProof => no('invalid', `checkpoint ${checkpoint}: ${why} (the database is damaged or altered: run \`immutalog verify\`)`);
    const tx = this.txPart(anchor);
    if (tx instanceof Error) return bad(`anchor ${anchor.id}: ${tx.message}`);
    const path = unpackPath(Buffer.from(proof.path));
    const steps = path && anchorPathSteps({ leafIndex: proof.leaf_index, treeSize: proof.tree_size, path });
    if (!steps) return bad(`its anchor proof is malformed (leaf ${proof.leaf_index} of ${proof.tree_size}, ${proof.path.length} path bytes)`);
    const bytes = Buffer.from(row.bytes);
    const digest = checkpointHash(bytes);
    try {
      const ots = serializeDetachedTimestamp(digest, anchorTimestampOps(digest, steps, tx), anchor.block_height!);
      return { ok: true, checkpoint, checkpointBytes: bytes, ots, anchor: anchor.id, txid: tx.txid, height: anchor.block_height!, blockHash: anchor.block_hash! };
    } catch (e) {
      if (e instanceof OtsPathError || e instanceof OtsLimitError) return bad(`anchor ${anchor.id}: ${e.message}`);
      throw e;
    }
  }

  private txPart(a: AnchorRow): TxOts | Error {
    let part = this.txParts.get(a.id);
    if (part) return part;
    try {
      if (a.block_height === null || a.block_hash === null || a.tx_index === null || a.branch === null) throw new OtsPathError(`state ${a.state} without its block (height, tx index, branch)`);
      const branch = unpackPath(Buffer.from(a.branch));
      if (!branch) throw new OtsPathError(`its branch is ${a.branch.length} bytes, not a multiple of 32`);
      part = txTimestampOps({ rawTx: Buffer.from(a.tx_hex, 'hex'), branch, index: a.tx_index });
      if (part.txid !== a.txid) throw new OtsPathError(`the stored transaction is ${part.txid}, not ${a.txid}`);
    } catch (e) {
      if (!(e instanceof OtsPathError || e instanceof OtsLimitError)) throw e;
      part = e;
    }
    this.txParts.set(a.id, part);
    return part;
  }
}
