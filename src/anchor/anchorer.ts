import { checkpointHash } from '../checkpoint/format.js';
import type { AnchorRow, LogStore } from '../store/log-store.js';
import { buildAnchorTree, packPath } from '../checkpoint/batch-tree.js';
import { parseHeader } from '../bitcoin/header.js';
import { merkleBranch, rootFromBranch } from '../bitcoin/merkle-branch.js';
import { findAnchorOutput, parseTransaction } from '../bitcoin/tx.js';
import { clampFeeRate, jitteredIntervalMs, nextBumpRate, type AnchorPolicy } from './policy.js';
import { BitcoinRpcError } from '../bitcoind/errors.js';
import type { AnchorNode } from '../bitcoind/writer.js';
import { spends } from '../bitcoin/anchor-chain.js';
import { AnchorRoundError, buildAnchorTx } from './anchor-tx.js';

export { AnchorRoundError } from './anchor-tx.js';

/** Checkpoints one round takes at most; a backlog beyond it goes in the next round. */
const MAX_CHECKPOINTS_PER_ROUND = 100_000;
/** Backoff after a failed poll or round, doubling up to the cap. */
const BACKOFF_MIN_MS = 5_000;
const BACKOFF_MAX_MS = 10 * 60_000;

export interface AnchorStatus {
  nodeReachable: boolean | null;
  lastError: string | null;
  lastErrorKind: string | null;
  walletSats: number | null;
  nextRoundAtMs: number;
  feesSpentSats: number;
  /**
   * The newest round's place in the chain: the anchor whose change it spent, or null when it
   * spent a wallet coin (the first anchor, or the chain broke: `breakReason` says why).
   */
  chain: { spentChangeOf: number | null; breakReason: string | null } | null;
}

/**
 * The anchorer, a loop of timers on the main thread (no worker thread: everything it waits on is
 * RPC). Every interval, one Bitcoin transaction whose single OP_RETURN commits to the root of a
 * tree over all checkpoints not yet anchored; then each anchor's life, polled:
 * built -> broadcast -> mined (block, branch stored) -> final, with replace-by-fee when stuck,
 * and back to broadcast when a reorg takes its block away. It never touches the receive path:
 * everything here is asynchronous RPC and a few small SQLite writes, and a dead node only
 * means retries with backoff.
 */
export class Anchorer {
  readonly status: AnchorStatus = { nodeReachable: null, lastError: null, lastErrorKind: null, walletSats: null, nextRoundAtMs: 0, feesSpentSats: 0, chain: null };
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly rpc: AnchorNode,
    private readonly store: LogStore,
    private readonly policy: AnchorPolicy,
    private readonly log: { info(m: string): void; warn(m: string): void; error(m: string): void },
    private readonly now: () => number = Date.now,
  ) {
    this.status.nextRoundAtMs = this.now() + jitteredIntervalMs(policy);
  }

  start(): void {
    this.schedule(0);
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    return this.running ?? Promise.resolve();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(false), ms);
    this.timer.unref();
  }

  /** `anchor --now`: a round at once (after the lifecycle poll). Resolves when broadcast. */
  async roundNow(): Promise<AnchorRow | undefined> {
    await this.running;
    let result: AnchorRow | undefined;
    this.running = (async () => {
      try {
        await this.poll();
        result = await this.round();
        this.status.lastError = null;
        this.status.lastErrorKind = null;
      } catch (e) {
        // Shown in status like a failed timed round, and retried by the timer with backoff.
        this.noteError(e as Error);
        if (!(e instanceof AnchorRoundError && e.kind === 'busy')) this.status.nextRoundAtMs = this.now();
        throw e;
      }
    })();
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
    return result;
  }

  private async tick(force: boolean): Promise<void> {
    if (this.running) {
      // `anchor --now` holds the anchorer: come back after it instead of losing the timer for good.
      this.schedule(this.policy.pollSec * 1000);
      return;
    }
    this.running = (async () => {
      try {
        await this.poll();
        if (force || this.now() >= this.status.nextRoundAtMs) {
          await this.round();
          this.status.nextRoundAtMs = this.now() + jitteredIntervalMs(this.policy);
        }
        this.backoffMs = 0;
        this.status.lastError = null;
        this.status.lastErrorKind = null;
      } catch (e) {
        this.noteError(e as Error);
        this.backoffMs = Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoffMs * 2));
      }
    })();
    await this.running;
    this.running = undefined;
    this.schedule(this.backoffMs || this.policy.pollSec * 1000);
  }

  private noteError(e: Error): void {
    const kind = e instanceof BitcoinRpcError ? e.kind : e instanceof AnchorRoundError ? e.kind : 'other';
    if (kind === 'unreachable') this.status.nodeReachable = false;
    if (this.status.lastError !== e.message) this.log.warn(`anchor: ${e.message}`);
    this.status.lastError = e.message;
    this.status.lastErrorKind = kind;
  }

  /** Builds, persists and broadcasts one round; undefined when nothing is waiting. */
  private async round(): Promise<AnchorRow | undefined> {
    const inFlight = this.store.anchors.list(['built', 'broadcast']);
    if (inFlight.length > 0) {
      // One anchor in flight at a time: a second would spend the first one's change, and then
      // neither could be bumped on its own. New checkpoints wait for the next round.
      throw new AnchorRoundError('busy', `anchor ${inFlight[0]!.id} (${inFlight[0]!.txid}) is not mined yet; the next round waits for it`);
    }
    const pending = this.store.anchors.unanchoredCheckpoints(MAX_CHECKPOINTS_PER_ROUND);
    if (pending.length === 0) return undefined;
    const tree = buildAnchorTree(pending.map((c) => ({ index: c.idx, hash: checkpointHash(Buffer.from(c.bytes)) })));
    const estimate = await this.rpc.estimateSmartFee(this.policy.confTarget);
    this.status.nodeReachable = true;
    const feeRate = clampFeeRate(estimate.feeRateSatVb, this.policy);
    const built = await buildAnchorTx(this.rpc, this.store, this.policy, this.log, { root: tree.root, feeRate, beforeAnchor: Number.MAX_SAFE_INTEGER });
    const t = this.now() * 1000;
    const anchorId = this.store.anchors.insert(
      {
        state: 'built', root: tree.root, tree_size: pending.length, txid: built.txid, tx_hex: built.hex, fee_sats: built.feeSats,
        vsize: built.vsize, fee_rate: feeRate, created_at_us: t, updated_at_us: t, broadcast_height: null, bumps: 0,
        block_hash: null, block_height: null, tx_index: null, block_tx_count: null, branch: null,
      },
      tree.proofs.map((p) => ({ checkpoint: p.checkpoint, leaf_index: p.leafIndex, tree_size: p.treeSize, path: packPath(p.path) })),
    );
    this.status.chain = { spentChangeOf: built.spentChangeOf, breakReason: built.breakReason };
    await this.broadcast(this.store.anchors.get(anchorId)!);
    this.log.info(`anchor ${anchorId}: ${built.spentChangeOf !== null ? `spends the change of anchor ${built.spentChangeOf}; ` : ''}${pending.length} checkpoints (${pending[0]!.idx}..${pending[pending.length - 1]!.idx}) in ${built.txid}, ${built.feeSats} sat at ${feeRate} sat/vB`);
    return this.store.anchors.get(anchorId);
  }

  /** Sends (or re-sends: the node answers an already-known tx with its txid) and records the tip. */
  private async broadcast(a: AnchorRow): Promise<void> {
    try {
      await this.rpc.sendRawTransaction(a.tx_hex);
    } catch (e) {
      // Already mined: the poll finds its block.
      if (!(e instanceof BitcoinRpcError && e.kind === 'rejected' && e.rpcCode === -27)) throw e;
    }
    const height = await this.rpc.getBlockCount();
    this.store.anchors.update(a.id, { state: 'broadcast', broadcast_height: a.broadcast_height ?? height, updated_at_us: this.now() * 1000 });
  }

  /** One pass over every anchor that is not final. */
  private async poll(): Promise<void> {
    const open = this.store.anchors.list(['built', 'broadcast', 'mined']);
    if (open.length === 0) {
      await this.rpc.getBlockCount();
      this.status.nodeReachable = true;
      return;
    }
    const tip = await this.rpc.getBlockCount();
    this.status.nodeReachable = true;
    for (const a of open) {
      if (a.state === 'built') await this.broadcast(a).catch(async (e: unknown) => {
        // Never sent, and now refused (its input spent meanwhile): followed as broadcast, which rebuilds it.
        if (!(e instanceof BitcoinRpcError && e.kind === 'rejected')) throw e;
        this.store.anchors.update(a.id, { state: 'broadcast', broadcast_height: tip, updated_at_us: this.now() * 1000 });
      });
      else if (a.state === 'broadcast') await this.followBroadcast(a, tip);
      else await this.followMined(a);
    }
    try {
      this.status.walletSats = (await this.rpc.getBalanceSats()).trustedSats;
    } catch {
      this.status.walletSats = null;
    }
    let spent = 0;
    for (const a of this.store.anchors.list(['mined', 'final'])) spent += a.fee_sats;
    this.status.feesSpentSats = spent;
  }

  private async followBroadcast(a: AnchorRow, tip: number): Promise<void> {
    let pending = false;
    for (const v of this.store.anchors.versions(a.id)) {
      let t;
      try {
        t = await this.rpc.getTransaction(v.txid);
      } catch (e) {
        if (e instanceof BitcoinRpcError && e.kind === 'not-found') continue;
        throw e;
      }
      if (t.confirmations > 0 && t.blockhash) {
        await this.captureBlock(a, v, t.blockhash);
        return;
      }
      if (t.confirmations === 0) pending = true;
    }
    // No version can be mined any more: each conflicts with a mined transaction (or never
    // reached the node) and an input is spent elsewhere. The same tree gets a new transaction.
    const gone = pending ? undefined : await this.inputGone(a);
    if (gone) {
      await this.rebuild(a, tip, gone);
      return;
    }
    const waited = tip - (a.broadcast_height ?? tip);
    if (waited >= this.policy.stuckBlocks) await this.bump(a, tip);
    else await this.rpc.sendRawTransaction(a.tx_hex).catch(() => undefined);
  }

  /**
   * Replace-by-fee within the caps. Checkpoints that arrived while the anchor was stuck are
   * re-merkled into the replacement (its OP_RETURN carries the new root); without any, the
   * replacement keeps the root. Every version keeps its own proofs: whichever is mined decides.
   */
  private async bump(a: AnchorRow, tip: number): Promise<void> {
    const rate = nextBumpRate(a.fee_rate, this.policy);
    if (rate === undefined) {
      throw new AnchorRoundError('fee-cap', `anchor ${a.id} unconfirmed after ${tip - (a.broadcast_height ?? tip)} blocks, but ${a.fee_rate} sat/vB is already at the cap of ${this.policy.maxFeeRate}`);
    }
    const estimatedFee = Math.ceil(rate * a.vsize);
    if (estimatedFee > this.policy.maxFeeSats) {
      throw new AnchorRoundError('fee-cap', `anchor ${a.id}: a bump to ${rate} sat/vB would cost about ${estimatedFee} sat, above the cap of ${this.policy.maxFeeSats} sat`);
    }
    const covered = this.store.anchors.checkpointsOf(a.id);
    const pending = this.store.anchors.unanchoredCheckpoints(Math.max(0, MAX_CHECKPOINTS_PER_ROUND - covered.length));
    let tree: { root: Buffer; proofs: ReturnType<typeof buildAnchorTree>['proofs'] } | undefined;
    if (pending.length > 0) {
      const all = [...covered.map((i) => this.store.checkpoints.get(i)!), ...pending].sort((x, y) => x.idx - y.idx);
      tree = buildAnchorTree(all.map((c) => ({ index: c.idx, hash: checkpointHash(Buffer.from(c.bytes)) })));
    }
    const root = tree ? tree.root : Buffer.from(a.root);
    const r = await this.rpc.bumpFee(a.txid, rate, tree ? tree.root.toString('hex') : undefined);
    const t = await this.rpc.getTransaction(r.txid);
    const raw = Buffer.from(t.hex, 'hex');
    const replacement = parseTransaction(raw);
    const committed = findAnchorOutput(replacement);
    if (!committed || !committed.equals(root)) {
      throw new AnchorRoundError('malformed', `the replacement ${r.txid} of anchor ${a.id} does not carry the root ${root.toString('hex')}`);
    }
    // bumpfee keeps the inputs, so the replacement continues the chain as the original did;
    // if a node ever did otherwise, the break is said here, not found by an auditor later.
    const dropped = parseTransaction(Buffer.from(a.tx_hex, 'hex')).inputs.filter((i) => !spends(replacement, { txid: i.prevTxid, vout: i.vout }));
    if (dropped.length > 0) this.log.warn(`anchor ${a.id}: the replacement ${r.txid} no longer spends ${dropped.map((i) => `${i.prevTxid}:${i.vout}`).join(', ')}`);
    const proofs = tree
      ? tree.proofs.map((p) => ({ checkpoint: p.checkpoint, leaf_index: p.leafIndex, tree_size: p.treeSize, path: packPath(p.path) }))
      : covered.map((i) => this.store.anchors.proofOf(i)!).map((p) => ({ checkpoint: p.checkpoint, leaf_index: p.leaf_index, tree_size: p.tree_size, path: Buffer.from(p.path) }));
    this.store.anchors.addVersion(
      a.id,
      { txid: r.txid, tx_hex: t.hex, root, tree_size: proofs.length, fee_sats: r.feeSats, fee_rate: rate, vsize: parseTransaction(raw).vsize, at_us: this.now() * 1000 },
      proofs,
    );
    this.store.anchors.update(a.id, { broadcast_height: tip });
    this.log.info(`anchor ${a.id}: bumped ${a.txid} -> ${r.txid} at ${rate} sat/vB (${r.feeSats} sat)${tree ? `, re-merkled to ${proofs.length} checkpoints` : ''}`);
  }

  /** Whether the node has one of the current version's inputs spent (or never had it): then it cannot be mined. */
  private async inputGone(a: AnchorRow): Promise<string | undefined> {
    for (const i of parseTransaction(Buffer.from(a.tx_hex, 'hex')).inputs) {
      if (!(await this.rpc.getTxOut(i.prevTxid, i.vout))) return `${i.prevTxid}:${i.vout}`;
    }
    return undefined;
  }

  /**
   * A new transaction for an anchor whose versions all lost an input (a reorg, or the wallet
   * spent it elsewhere): the same root and proofs, the chain continued from the anchor before
   * it if its change is still there, else a wallet coin (said, as in a round).
   */
  private async rebuild(a: AnchorRow, tip: number, gone: string): Promise<void> {
    const built = await buildAnchorTx(this.rpc, this.store, this.policy, this.log, { root: Buffer.from(a.root), feeRate: a.fee_rate, beforeAnchor: a.id });
    const proofs = this.store.anchors.checkpointsOf(a.id).map((i) => this.store.anchors.proofOf(i)!).map((p) => ({ checkpoint: p.checkpoint, leaf_index: p.leaf_index, tree_size: p.tree_size, path: Buffer.from(p.path) }));
    this.store.anchors.addVersion(
      a.id,
      { txid: built.txid, tx_hex: built.hex, root: Buffer.from(a.root), tree_size: a.tree_size, fee_sats: built.feeSats, fee_rate: a.fee_rate, vsize: built.vsize, at_us: this.now() * 1000 },
      proofs,
    );
    this.store.anchors.update(a.id, { broadcast_height: tip });
    this.status.chain = { spentChangeOf: built.spentChangeOf, breakReason: built.breakReason };
    this.log.warn(`anchor ${a.id}: ${a.txid} can no longer be mined (its input ${gone} is spent elsewhere); rebuilt as ${built.txid}${built.spentChangeOf !== null ? `, spending the change of anchor ${built.spentChangeOf}` : ''}`);
    await this.rpc.sendRawTransaction(built.hex);
  }

  /** Records the block, and the branch from the tx to the block's merkle root, checked against the header. */
  private async captureBlock(a: AnchorRow, v: { txid: string; tx_hex: string; root: Buffer; tree_size: number; fee_sats: number; fee_rate: number }, blockHash: string): Promise<void> {
    const { txid, tx_hex: txHex, fee_sats: feeSats, fee_rate: feeRate } = v;
    const [txids, headerHex, header] = await Promise.all([this.rpc.getBlockTxids(blockHash), this.rpc.getBlockHeaderHex(blockHash), this.rpc.getBlockHeader(blockHash)]);
    const index = txids.indexOf(txid);
    if (index < 0) throw new Error(`anchor ${a.id}: block ${blockHash} does not list ${txid}`);
    const { branch } = merkleBranch(txids, index);
    const parsed = parseHeader(Buffer.from(headerHex, 'hex'));
    const root = rootFromBranch(Buffer.from(txid, 'hex').reverse(), branch, index, { txCount: txids.length });
    if (!root.equals(parsed.merkleRootInternal)) throw new Error(`anchor ${a.id}: the branch of ${txid} does not lead to block ${blockHash}'s merkle root`);
    // The mined version's tree is the one that holds.
    this.store.anchors.adoptMinedVersion(a.id, txid, {
      state: 'mined', txid, tx_hex: txHex, root: Buffer.from(v.root), tree_size: v.tree_size, fee_sats: feeSats, fee_rate: feeRate, block_hash: blockHash, block_height: header.height,
      tx_index: index, block_tx_count: txids.length, branch: Buffer.concat(branch), updated_at_us: this.now() * 1000,
    });
    this.log.info(`anchor ${a.id}: mined in block ${header.height} (${blockHash})`);
    await this.followMined(this.store.anchors.get(a.id)!);
  }

  private async followMined(a: AnchorRow): Promise<void> {
    const h = await this.rpc.getBlockHeader(a.block_hash!);
    if (h.confirmations < 0) {
      // Reorged out: the proof is void. Back to broadcast; the poll recaptures it where it lands.
      this.store.anchors.update(a.id, { state: 'broadcast', block_hash: null, block_height: null, tx_index: null, block_tx_count: null, branch: null, broadcast_height: await this.rpc.getBlockCount(), updated_at_us: this.now() * 1000 });
      this.log.warn(`anchor ${a.id}: block ${a.block_hash} left the best chain; waiting for ${a.txid} to be mined again`);
      await this.rpc.sendRawTransaction(a.tx_hex).catch(() => undefined);
      return;
    }
    if (h.confirmations >= this.policy.finalConfirmations) {
      this.store.anchors.update(a.id, { state: 'final', updated_at_us: this.now() * 1000 });
      this.log.info(`anchor ${a.id}: final at ${h.confirmations} confirmations`);
    }
  }
}
