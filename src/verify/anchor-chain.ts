import { chainLinks, chainOutputOf, isAnchorTx, type Outpoint } from '../bitcoin/anchor-chain.js';
import { parseTransaction } from '../bitcoin/tx.js';
import { BitcoinRpcError } from '../bitcoind/errors.js';
import type { ChainReader } from '../bitcoind/reader.js';
import type { AnchorRow, LogStore } from '../store/log-store.js';
import type { Failure } from './failures.js';

/** What the chain check asks of a node: the UTXO set (a pruned node will do) and, to follow a spend, blocks and the mempool. */
export type ChainSource = Pick<ChainReader, 'getBlockHeader' | 'getTxOut' | 'getMempoolSpender' | 'getBlockTransactions' | 'getRawTransactionHex'>;

/**
 * Blocks read at most in one run to follow spends: each is a whole block over RPC (megabytes on
 * mainnet). A day of blocks shows that the chain runs ahead and roughly how far; beyond it the
 * count is reported as "at least".
 */
export const MAX_FOLLOW_BLOCKS = 144;

export interface ChainAhead {
  /** The database's anchor whose change a transaction it does not show spent. */
  after: number;
  /** Anchors of this log found beyond it (at least this many when not `complete`). */
  anchors: number;
  complete: boolean;
  /** The newest of them, when one was found; height null while it is in the mempool. */
  newest: { txid: string; height: number | null } | null;
  /** Why the spend could not be followed to its end. */
  stoppedBecause: string | null;
  /** The database's anchor the hidden ones lead back to (a restored copy that went on anchoring), if any. */
  rejoins: number | null;
}

export interface ChainSummary {
  /** False without a node: only the links the stored transactions show were counted. */
  checkedAgainstNode: boolean;
  anchors: number;
  /** Anchors that spend the change of the anchor before them. */
  links: number;
  /** Where the chain broke legitimately: the anchor started from a wallet coin, and why that was fine. */
  breaks: { anchor: number; why: string }[];
  /** Newer anchors than the database shows (a failure, except after a bundle's newest anchor). */
  ahead: ChainAhead[];
}

interface Spender {
  txid: string;
  hex: string;
  height: number | null;
  blockhash: string | null;
}

/**
 * Rollback detection from Bitcoin alone. Each anchor spends the change of the one before
 * (anchor/anchorer.ts), so every mined anchor's change is either spent by the next anchor the
 * database holds, or unspent, or spent by a transaction that is not an anchor (the wallet spent
 * it elsewhere; the next anchor started from a wallet coin). A change spent by anything else
 * means anchors exist that the database does not show: it was rolled back or truncated
 * (ANCHOR_CHAIN_AHEAD). No auditor state is needed: the node's UTXO set says it.
 */
export async function checkAnchorChain(store: LogStore, node: ChainSource | undefined, o: { bundle: boolean }, report: (f: Failure) => void): Promise<ChainSummary> {
  const rows = store.anchors.list();
  const links = chainLinks(rows.map((a) => ({ id: a.id, txid: a.txid, txHex: a.tx_hex })));
  const summary: ChainSummary = { checkedAgainstNode: node !== undefined, anchors: rows.length, links: links.filter((l) => l.spendsAnchor !== null).length, breaks: [], ahead: [] };
  const mined = rows.map((a, i) => ({ a, i })).filter(({ a }) => a.state === 'mined' || a.state === 'final');
  const budget = { blocks: MAX_FOLLOW_BLOCKS };
  // Every version of every anchor the database holds: a followed spend that reaches one is back in the database.
  const known = new Map<string, number>();
  for (const a of rows) for (const v of store.anchors.versions(a.id)) known.set(v.txid, a.id);
  for (const { a, i } of mined) {
    const link = links[i]!;
    const next = links[i + 1];
    if (!link.output) {
      if (next) summary.breaks.push({ anchor: next.id, why: `anchor ${a.id} has no change output to spend` });
      continue;
    }
    if (next?.spendsAnchor === a.id) continue;
    if (!node) continue;
    // Outside the best chain the UTXO set says nothing about it; the anchor checks name its block.
    if (!(await inBestChain(node, a))) continue;
    if (await node.getTxOut(link.output.txid, link.output.vout)) {
      if (next) summary.breaks.push({ anchor: next.id, why: `it spent a wallet coin although the change of anchor ${a.id} is unspent` });
      continue;
    }
    const f = await follow(node, link.output, a.block_hash!, budget, known);
    if (f.anchors === 0 && f.rejoins !== null) continue;
    if (f.first && !f.first.anchor) {
      if (next) summary.breaks.push({ anchor: next.id, why: `the change of anchor ${a.id} was spent by ${f.first.txid}, which is not an anchor` });
      continue;
    }
    const ahead: ChainAhead = { after: a.id, anchors: f.anchors, complete: f.stoppedBecause === null, newest: f.newest, stoppedBecause: f.stoppedBecause, rejoins: f.rejoins };
    summary.ahead.push(ahead);
    const newestInDb = i === mined[mined.length - 1]!.i;
    // A bundle is a copy of its day: the log's later anchors spend its newest change.
    if (o.bundle && newestInDb) continue;
    const checkpoint = lastCheckpointOf(store, a);
    report({
      code: 'ANCHOR_CHAIN_AHEAD',
      ...(checkpoint !== undefined ? { checkpoint } : {}),
      expected: `the change of anchor ${a.id} (${link.output.txid}:${link.output.vout}) unspent, or spent by ${next ? `anchor ${next.id}` : 'no transaction'} as the database shows`,
      actual: describeAhead(f),
      detail: `anchor ${a.id}'s change is spent by an anchor this database does not show: the log was rolled back or truncated after anchor ${a.id}`,
    });
  }
  return summary;
}

function describeAhead(f: Followed): string {
  if (f.anchors === 0) return `spent by a transaction that could not be followed (${f.stoppedBecause ?? 'unknown'})`;
  const where = (n: { txid: string; height: number | null }): string => `${n.txid} ${n.height === null ? 'in the mempool' : `in block ${n.height}`}`;
  const count = f.stoppedBecause === null ? `${f.anchors}` : `at least ${f.anchors}`;
  const rejoins = f.rejoins !== null ? `, then the database's anchor ${f.rejoins}` : '';
  return `spent by anchor ${where(f.first!)}; ${count} anchor${f.anchors === 1 ? '' : 's'} the database does not show, the newest ${where(f.newest!)}${rejoins}${f.stoppedBecause ? ` (followed no further: ${f.stoppedBecause})` : ''}`;
}

/** The checkpoint a failure is filed under: the newest the anchor covers, so it sorts after that checkpoint's own failures. */
function lastCheckpointOf(store: LogStore, a: AnchorRow): number | undefined {
  const cps = store.anchors.checkpointsOf(a.id);
  return cps.length ? Math.max(...cps) : undefined;
}

async function inBestChain(node: ChainSource, a: AnchorRow): Promise<boolean> {
  try {
    return (await node.getBlockHeader(a.block_hash!)).confirmations >= 1;
  } catch (e) {
    if (e instanceof BitcoinRpcError && e.kind === 'not-found') return false;
    throw e;
  }
}

interface Followed {
  first: { txid: string; anchor: boolean; height: number | null } | null;
  /** Anchors found that the database does not hold. */
  anchors: number;
  /** The database's anchor the followed spends led back to, if any. */
  rejoins: number | null;
  newest: { txid: string; height: number | null } | null;
  stoppedBecause: string | null;
}

/** From a spent change, spend after spend, while the spender is an anchor whose change is spent too. */
async function follow(node: ChainSource, start: Outpoint, fromBlock: string, budget: { blocks: number }, known: Map<string, number>): Promise<Followed> {
  const f: Followed = { first: null, anchors: 0, rejoins: null, newest: null, stoppedBecause: null };
  let at = start;
  let block: string | null = fromBlock;
  for (;;) {
    const s = await findSpender(node, at, block, budget);
    if (typeof s === 'string') {
      f.stoppedBecause = s;
      return f;
    }
    if (known.has(s.txid)) {
      f.rejoins = known.get(s.txid)!;
      return f;
    }
    const tx = parseTransaction(Buffer.from(s.hex, 'hex'));
    const anchor = isAnchorTx(tx);
    f.first ??= { txid: s.txid, anchor, height: s.height };
    if (!anchor) return f;
    f.anchors++;
    f.newest = { txid: s.txid, height: s.height };
    const out = chainOutputOf(tx);
    if (!out) return f;
    at = { txid: s.txid, vout: out.vout };
    if (await node.getTxOut(at.txid, at.vout)) return f;
    block = s.blockhash;
  }
}

/**
 * The transaction spending `o`: in the blocks from `block` (the spent output's own block: a
 * child may share its parent's block) up to the tip, then in the mempool. A string says why it
 * was not found. No txindex or wallet is needed, only blocks the node still holds.
 */
async function findSpender(node: ChainSource, o: Outpoint, block: string | null, budget: { blocks: number }): Promise<Spender | string> {
  let hash = block;
  while (hash !== null) {
    if (budget.blocks <= 0) return `read the limit of ${MAX_FOLLOW_BLOCKS} blocks`;
    budget.blocks--;
    let b;
    try {
      b = await node.getBlockTransactions(hash);
    } catch (e) {
      if (e instanceof BitcoinRpcError && (e.rpcCode ?? 0) < 0) return `block ${hash} could not be read (${e.message}): a pruned node?`;
      throw e;
    }
    for (const t of b.tx) {
      if (t.spends.some((p) => p.txid === o.txid && p.vout === o.vout)) return { txid: t.txid, hex: t.hex, height: b.height, blockhash: hash };
    }
    hash = b.nextblockhash ?? null;
  }
  let spender: string | undefined;
  try {
    spender = await node.getMempoolSpender(o.txid, o.vout);
  } catch (e) {
    if (e instanceof BitcoinRpcError && (e.rpcCode ?? 0) < 0) return `the mempool could not be asked (${e.message})`;
    throw e;
  }
  if (spender === undefined) return 'no spender in the blocks up to the tip nor in the mempool';
  return { txid: spender, hex: await node.getRawTransactionHex(spender), height: null, blockhash: null };
}
