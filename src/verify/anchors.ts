import { anchorRootOf, unpackPath } from '../checkpoint/batch-tree.js';
import { BitcoinFormatError } from '../bitcoin/errors.js';
import { verifyAnchorInclusion } from '../bitcoin/inclusion.js';
import { findAnchorOutput, parseTransaction, txid as txidOf } from '../bitcoin/tx.js';
import { BitcoinRpcError } from '../bitcoind/errors.js';
import type { ChainReader } from '../bitcoind/reader.js';
import type { AnchorRow, LogStore } from '../store/log-store.js';
import type { Failure } from './failures.js';

/** Only what verify asks of a node: block headers (works on a pruned node, no txindex, no wallet). */
export type HeaderSource = Pick<ChainReader, 'getBlockHeader' | 'getBlockHeaderHex'>;

export interface AnchorSummary {
  /** Checkpoints in range by the state of the anchor that covers them. */
  checkpointsByState: { final: number; mined: number; broadcast: number; built: number; unanchored: number };
  anchorsChecked: number;
  oldestUnanchored: { checkpoint: number; timeUs: number; ageUs: number } | null;
  /** False when no node was given: inclusion in a block was not checked. */
  checkedAgainstNode: boolean;
}

interface AnchorVerdict {
  row: AnchorRow;
  ok: boolean;
}

/**
 * Checks each checkpoint of the range up to Bitcoin: its proof to the round's root, the root in
 * the stored transaction's OP_RETURN, the transaction's identity, its branch to the block's
 * merkle root, and (with a node) that the block is in the best chain and how deep. Anchor-level
 * checks run once per anchor, however many checkpoints it covers.
 */
export class AnchorChecker {
  readonly summary: AnchorSummary;
  private readonly verdicts = new Map<number, AnchorVerdict | undefined>();

  constructor(
    private readonly store: LogStore,
    private readonly node: HeaderSource | undefined,
    private readonly nowUs: number,
    private readonly report: (f: Failure) => void,
  ) {
    this.summary = {
      checkpointsByState: { final: 0, mined: 0, broadcast: 0, built: 0, unanchored: 0 },
      anchorsChecked: 0,
      oldestUnanchored: null,
      checkedAgainstNode: node !== undefined,
    };
  }

  async check(checkpoint: number, hash: Buffer, timeUs: number): Promise<void> {
    const proof = this.store.anchors.proofOf(checkpoint);
    if (!proof) {
      this.summary.checkpointsByState.unanchored++;
      if (!this.summary.oldestUnanchored) this.summary.oldestUnanchored = { checkpoint, timeUs, ageUs: this.nowUs - timeUs };
      return;
    }
    const v = await this.anchorVerdict(proof.anchor_id, checkpoint);
    if (!v) return;
    this.summary.checkpointsByState[v.row.state]++;
    const path = unpackPath(Buffer.from(proof.path));
    const root = path ? anchorRootOf(hash, { leafIndex: proof.leaf_index, treeSize: proof.tree_size, path }) : undefined;
    if (!root || !root.equals(Buffer.from(v.row.root)) || proof.tree_size !== v.row.tree_size) {
      this.report({ code: 'ANCHOR_PROOF_INVALID', checkpoint, expected: Buffer.from(v.row.root).toString('hex'), actual: root?.toString('hex') ?? 'malformed path', detail: `checkpoint ${checkpoint}'s inclusion proof does not lead to the root of anchor ${v.row.id}` });
    }
  }

  private async anchorVerdict(id: number, checkpoint: number): Promise<AnchorVerdict | undefined> {
    if (this.verdicts.has(id)) return this.verdicts.get(id);
    const row = this.store.anchors.get(id);
    if (!row) {
      this.report({ code: 'ANCHOR_MISSING', checkpoint, expected: `anchor ${id}`, actual: 'no such anchor', detail: `checkpoint ${checkpoint}'s proof names anchor ${id}, which is not in the database` });
      this.verdicts.set(id, undefined);
      return undefined;
    }
    this.summary.anchorsChecked++;
    const v: AnchorVerdict = { row, ok: await this.checkAnchor(row, checkpoint) };
    this.verdicts.set(id, v);
    return v;
  }

  private async checkAnchor(a: AnchorRow, checkpoint: number): Promise<boolean> {
    const fail = (code: Failure['code'], expected: string, actual: string, detail: string): false => {
      this.report({ code, checkpoint, expected, actual, detail: `anchor ${a.id} (${a.txid}): ${detail}` });
      return false;
    };
    const raw = Buffer.from(a.tx_hex, 'hex');
    let tx;
    try {
      tx = parseTransaction(raw);
    } catch (e) {
      if (!(e instanceof BitcoinFormatError)) throw e;
      return fail('ANCHOR_TX_INVALID', 'a transaction', e.message, 'the stored transaction cannot be parsed');
    }
    if (txidOf(tx) !== a.txid) return fail('ANCHOR_TX_INVALID', a.txid, txidOf(tx), 'the stored transaction is not the one its txid names');
    let committed: Buffer | undefined;
    try {
      committed = findAnchorOutput(tx);
    } catch {
      committed = undefined;
    }
    if (!committed || !committed.equals(Buffer.from(a.root))) {
      return fail('ANCHOR_TX_INVALID', Buffer.from(a.root).toString('hex'), committed?.toString('hex') ?? 'no 32-byte OP_RETURN', 'the transaction does not commit to the anchor root');
    }
    if (a.state !== 'mined' && a.state !== 'final') return true;
    if (!a.block_hash || a.tx_index === null || !a.branch) return fail('ANCHOR_INCLUSION_INVALID', 'block, index and branch', 'missing', `state ${a.state} without its block proof`);
    if (!this.node) return true;
    let headerHex: string;
    try {
      headerHex = await this.node.getBlockHeaderHex(a.block_hash);
    } catch (e) {
      // The node answered, and it has no such block: the anchor claims a block that is not there.
      if (e instanceof BitcoinRpcError && e.kind === 'not-found') return fail('ANCHOR_BLOCK_NOT_IN_CHAIN', `block ${a.block_hash} known to the node`, 'no such block', 'the node does not know its block');
      throw e;
    }
    const branch: Buffer[] = [];
    for (let o = 0; o + 32 <= a.branch.length; o += 32) branch.push(Buffer.from(a.branch.subarray(o, o + 32)));
    const r = verifyAnchorInclusion({
      rawTx: raw, branch, index: a.tx_index, header: Buffer.from(headerHex, 'hex'), expectedRoot: Buffer.from(a.root),
      ...(a.block_tx_count !== null ? { txCount: a.block_tx_count } : {}),
    });
    if (!r.ok) return fail('ANCHOR_INCLUSION_INVALID', `inclusion in block ${a.block_hash}`, r.code, r.detail);
    if (r.header.hash !== a.block_hash) return fail('ANCHOR_INCLUSION_INVALID', a.block_hash, r.header.hash, 'the node returned another header');
    const h = await this.node.getBlockHeader(a.block_hash);
    if (h.confirmations < 1) return fail('ANCHOR_BLOCK_NOT_IN_CHAIN', `block ${a.block_hash} in the best chain`, `confirmations ${h.confirmations}`, 'its block is not in the node\'s best chain (reorged out)');
    if (h.height !== a.block_height) return fail('ANCHOR_INCLUSION_INVALID', `height ${a.block_height}`, `height ${h.height}`, 'the block is at another height than recorded');
    return true;
  }
}
