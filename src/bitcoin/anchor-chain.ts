import { locateAnchorOutput, parseTransaction, type Transaction } from './tx.js';

/**
 * The chain of a log's anchors on the blockchain: each anchor transaction spends the change of
 * the one before it, so a newer anchor cannot exist without spending the newest change a
 * database shows. These are the pure parts: which output is the chain's, and who spends it.
 */

export interface Outpoint {
  /** Display hex, as RPC prints it. */
  txid: string;
  vout: number;
}

/**
 * The output the next anchor spends: the one output that is not an OP_RETURN. An anchor has
 * the OP_RETURN and the wallet's change, in either order (bumpfee with new outputs may reorder
 * them); with no change (all of it went to the fee) or more than one other output, there is no
 * chain output and the chain ends there.
 */
export function chainOutputOf(tx: Transaction): { vout: number; valueSats: bigint } | undefined {
  const others = tx.outputs.map((o, vout) => ({ o, vout })).filter(({ o }) => !(o.script.length > 0 && o.script[0] === 0x6a));
  if (others.length !== 1) return undefined;
  return { vout: others[0]!.vout, valueSats: others[0]!.o.valueSats };
}

export function spends(tx: Transaction, o: Outpoint): boolean {
  return tx.inputs.some((i) => i.prevTxid === o.txid && i.vout === o.vout);
}

/** True when the transaction carries exactly one OP_RETURN that is a 32-byte anchor commitment. */
export function isAnchorTx(tx: Transaction): boolean {
  try {
    return locateAnchorOutput(tx) !== undefined;
  } catch {
    return false;
  }
}

export interface ChainedAnchor {
  id: number;
  txid: string;
  txHex: string;
}

export interface ChainLink {
  id: number;
  /** This anchor's chain output, when it has one (and its stored transaction parses). */
  output: Outpoint | undefined;
  /** The anchor whose chain output this one spends, or null: it started from a wallet coin. */
  spendsAnchor: number | null;
}

/**
 * Which anchor spends which, from the stored transactions alone (anchors in order; each is
 * compared with the one before it: the chain only ever continues from the newest change).
 */
export function chainLinks(anchors: ChainedAnchor[]): ChainLink[] {
  const out: ChainLink[] = [];
  let previous: ChainLink | undefined;
  for (const a of anchors) {
    let tx: Transaction | undefined;
    try {
      tx = parseTransaction(Buffer.from(a.txHex, 'hex'));
    } catch {
      tx = undefined;
    }
    const own = tx ? chainOutputOf(tx) : undefined;
    const link: ChainLink = {
      id: a.id,
      output: own ? { txid: a.txid, vout: own.vout } : undefined,
      spendsAnchor: tx && previous?.output && spends(tx, previous.output) ? previous.id : null,
    };
    out.push(link);
    previous = link;
  }
  return out;
}
