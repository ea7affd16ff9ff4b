import { chainOutputOf, spends, type Outpoint } from '../bitcoin/anchor-chain.js';
import { findAnchorOutput, parseTransaction, txid as txidOf, type Transaction } from '../bitcoin/tx.js';
import { BitcoinRpcError } from '../bitcoind/errors.js';
import type { AnchorNode } from '../bitcoind/writer.js';
import type { LogStore } from '../store/log-store.js';
import type { AnchorPolicy } from './policy.js';

/** fundrawtransaction's refusals of a given input the wallet cannot use (wallet/spend.cpp). */
const PRESELECTED_REFUSED = /pre-selected input/i;

export class AnchorRoundError extends Error {
  constructor(readonly kind: 'fee-cap' | 'unfunded' | 'rejected' | 'malformed' | 'busy', message: string) {
    super(message);
  }
}

export interface BuiltAnchorTx {
  hex: string;
  tx: Transaction;
  txid: string;
  feeSats: number;
  vsize: number;
  /** The anchor whose change it spends, or null: a wallet coin (`breakReason` says why, unless it is the log's first). */
  spentChangeOf: number | null;
  breakReason: string | null;
}

/**
 * One anchor transaction, signed and accepted by the node's policy, not yet stored or sent: the
 * OP_RETURN with `root`, funded by the wallet, and spending the change of the log's anchor
 * before `beforeAnchor` (the newest, for a new round) so that the anchors form one chain. When
 * that change is spent or gone (a reorg, the wallet spent it elsewhere, a database older than
 * the log's anchors) or the wallet cannot spend it, a wallet coin is used and the break said.
 */
export async function buildAnchorTx(
  rpc: AnchorNode,
  store: LogStore,
  policy: AnchorPolicy,
  log: { warn(m: string): void },
  o: { root: Buffer; feeRate: number; beforeAnchor: number },
): Promise<BuiltAnchorTx> {
  const rootHex = o.root.toString('hex');
  let breakReason: string | null = null;
  const brk = (why: string): undefined => {
    breakReason = why;
    log.warn(`anchor: the chain of anchors breaks: ${why}; this transaction spends a wallet coin (verify with a node asks where that change went)`);
    return undefined;
  };
  let link = await chainInput(rpc, store, o.beforeAnchor, brk);
  let funded;
  try {
    funded = await fund(rpc, rootHex, o.feeRate, link?.outpoint);
  } catch (e) {
    // The node has the output unspent but the wallet cannot spend it (another wallet's, or
    // forgotten): the chain breaks here rather than anchoring nothing.
    if (!(link && e instanceof BitcoinRpcError && PRESELECTED_REFUSED.test(e.message))) throw e;
    link = brk(`the wallet cannot spend the change of anchor ${link.anchor} (${link.outpoint.txid}:${link.outpoint.vout}): ${e.message}`);
    funded = await fund(rpc, rootHex, o.feeRate, undefined);
  }
  if (funded.feeSats > policy.maxFeeSats) {
    throw new AnchorRoundError('fee-cap', `anchor fee ${funded.feeSats} sat at ${o.feeRate} sat/vB is above the cap of ${policy.maxFeeSats} sat`);
  }
  const signed = await rpc.signRawTransactionWithWallet(funded.hex);
  if (!signed.complete) throw new AnchorRoundError('unfunded', `the wallet could not sign the anchor: ${JSON.stringify(signed.errors ?? [])}`);
  const raw = Buffer.from(signed.hex, 'hex');
  const tx = parseTransaction(raw);
  const committed = findAnchorOutput(tx);
  if (!committed || !committed.equals(o.root)) {
    throw new AnchorRoundError('malformed', `the signed transaction does not carry the root ${rootHex} in one 32-byte OP_RETURN`);
  }
  if (link && !spends(tx, link.outpoint)) {
    throw new AnchorRoundError('malformed', `the signed transaction does not spend the change of anchor ${link.anchor} (${link.outpoint.txid}:${link.outpoint.vout})`);
  }
  const accept = await rpc.testMempoolAccept(signed.hex);
  if (!accept.allowed) throw new AnchorRoundError('rejected', `the node would not accept the anchor: ${accept.rejectReason ?? 'no reason given'}`);
  return { hex: signed.hex, tx, txid: txidOf(raw), feeSats: funded.feeSats, vsize: accept.vsize ?? tx.vsize, spentChangeOf: link?.anchor ?? null, breakReason };
}

async function fund(rpc: AnchorNode, rootHex: string, feeRate: number, spend: Outpoint | undefined) {
  const unsigned = await rpc.createAnchorTx(rootHex, spend);
  return await rpc.fundRawTransaction(unsigned, { feeRateSatVb: feeRate, changePosition: 1, replaceable: true, lockUnspents: true, minconf: 1 });
}

/** The change of the newest anchor before `beforeAnchor`, if the node has it unspent; undefined (and `brk` told why) otherwise. */
async function chainInput(rpc: AnchorNode, store: LogStore, beforeAnchor: number, brk: (why: string) => undefined): Promise<{ anchor: number; outpoint: Outpoint } | undefined> {
  const previous = store.anchors.list().filter((a) => a.id < beforeAnchor).pop();
  if (!previous) return undefined;
  const output = chainOutputOf(parseTransaction(Buffer.from(previous.tx_hex, 'hex')));
  if (!output) return brk(`anchor ${previous.id} (${previous.txid}) has no change output to spend`);
  const outpoint = { txid: previous.txid, vout: output.vout };
  if (!(await rpc.getTxOut(outpoint.txid, outpoint.vout))) {
    return brk(`the change of anchor ${previous.id} (${outpoint.txid}:${outpoint.vout}) is already spent or gone: a reorg, the wallet spent it elsewhere, or this database is older than the log's newest anchor (restored from a copy?)`);
  }
  return { anchor: previous.id, outpoint };
}
