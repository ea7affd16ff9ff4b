// What only the anchorer does with a node: estimate a fee, build the anchor transaction, have the
// wallet fund and sign it, check and send it, bump it (replace-by-fee), and follow it in the
// wallet. Verify never imports this module (test/layout/ checks it): it needs no wallet.

import { HEX32, need, satVb } from './args.js';
import { BitcoindReader, type ChainReader } from './reader.js';
import { badField, bool, btcPerKvbToSatPerVb, btcToSats, defined, int, obj, optional, shaped, str, strArray } from './reply.js';
import { openTransport, type BitcoinRpcConfig } from './transport.js';

/** BIP 125's opt-in signal, as fundrawtransaction's `replaceable` sets it on the inputs it picks. */
const RBF_SEQUENCE = 0xfffffffd;

/** Anchors are replaceable (for bumps) and lock their coins (so the next round cannot spend them). */
export interface FundOptions {
  feeRateSatVb: number;
  changePosition: number;
  replaceable: true;
  lockUnspents: true;
  minconf: number;
}

export interface ChainWriter {
  /** `estimatesmartfee confTarget "economical"`, converted from BTC/kvB to sat/vB. */
  estimateSmartFee(confTarget: number): Promise<{ feeRateSatVb?: number; errors?: string[] }>;
  /**
   * `createrawtransaction [] [{"data": root}]`: one OP_RETURN <32 bytes> output, and no input
   * (the wallet picks the coins) or `spend`, the previous anchor's change, with the sequence
   * that signals replace-by-fee (fundrawtransaction keeps a given input's sequence).
   */
  createAnchorTx(root32Hex: string, spend?: { txid: string; vout: number }): Promise<string>;
  fundRawTransaction(
    hex: string,
    o: FundOptions,
  ): Promise<{ hex: string; feeSats: number; changepos: number }>;
  signRawTransactionWithWallet(hex: string): Promise<{ hex: string; complete: boolean; errors?: unknown[] }>;
  testMempoolAccept(
    hex: string,
    maxFeeRateBtcKvb?: number,
  ): Promise<{ txid: string; allowed: boolean; vsize?: number; feeSats?: number; rejectReason?: string }>;
  sendRawTransaction(hex: string, maxFeeRateBtcKvb?: number): Promise<string>;
  /** With `dataHex`, the replacement's outputs are one data output of those bytes (plus the wallet's change). */
  bumpFee(txid: string, feeRateSatVb: number, dataHex?: string): Promise<{ txid: string; origFeeSats: number; feeSats: number }>;
  getTransaction(txid: string): Promise<{
    confirmations: number;
    blockhash?: string;
    blockheight?: number;
    blockindex?: number;
    replacedByTxid?: string;
    walletconflicts: string[];
    hex: string;
  }>;
  /** `getbalances` → `mine.trusted` / `mine.untrusted_pending`, in sats. */
  getBalanceSats(): Promise<{ trustedSats: number; pendingSats: number }>;
}

/** The node as the anchorer uses it: the chain reads and the writer's calls, over one connection. */
export type AnchorNode = ChainReader & ChainWriter;

/** `cfg.wallet` names the anchor wallet; the wallet's calls need it. */
export function connectAnchorNode(cfg: BitcoinRpcConfig): AnchorNode {
  return new BitcoindWriter(openTransport(cfg));
}

export class BitcoindWriter extends BitcoindReader implements ChainWriter {
  async estimateSmartFee(confTarget: number) {
    need(Number.isInteger(confTarget) && confTarget >= 1 && confTarget <= 1008, 'confTarget (1..1008)');
    const m = 'estimatesmartfee';
    return await shaped(this.t.call('node', m, confTarget, 'economical'), m, (r) => {
      const o = obj(r, 'result');
      const errors = optional(o.errors, strArray, 'errors');
      const feeRateSatVb = optional(o.feerate, btcPerKvbToSatPerVb, 'feerate');
      return defined({ feeRateSatVb, errors: errors !== undefined && errors.length > 0 ? errors : undefined });
    });
  }

  async createAnchorTx(root32Hex: string, spend?: { txid: string; vout: number }) {
    need(HEX32.test(root32Hex), 'root (want 64 hex digits)');
    if (spend) need(HEX32.test(spend.txid) && Number.isInteger(spend.vout) && spend.vout >= 0, 'input to spend');
    const inputs = spend ? [{ txid: spend.txid, vout: spend.vout, sequence: RBF_SEQUENCE }] : [];
    const m = 'createrawtransaction';
    return await shaped(this.t.call('node', m, inputs, [{ data: root32Hex.toLowerCase() }]), m, (r) => str(r, 'result'));
  }

  async fundRawTransaction(hex: string, o: FundOptions) {
    need(Number.isInteger(o.changePosition) && o.changePosition >= 0, 'changePosition');
    need(Number.isInteger(o.minconf) && o.minconf >= 0, 'minconf');
    need(o.replaceable === true && o.lockUnspents === true, 'options (replaceable and lockUnspents must be true)');
    // snake_case spellings, as recorded against v30.99 (fee_rate is sat/vB; feeRate would be
    // BTC/kvB). minconf 0 is Core's default (CCoinControl DEFAULT_MIN_DEPTH), so it is left out
    // and the request is exactly the recorded one; any other value is sent.
    const options: Record<string, unknown> = {
      fee_rate: satVb(o.feeRateSatVb, 'feeRateSatVb'),
      replaceable: true,
      change_position: o.changePosition,
      lock_unspents: true,
    };
    if (o.minconf !== 0) options.minconf = o.minconf;
    const m = 'fundrawtransaction';
    return await shaped(this.t.call('wallet', m, hex, options), m, (r) => {
      const x = obj(r, 'result');
      return { hex: str(x.hex, 'hex'), feeSats: btcToSats(x.fee, 'fee'), changepos: int(x.changepos, 'changepos') };
    });
  }

  async signRawTransactionWithWallet(hex: string) {
    const m = 'signrawtransactionwithwallet';
    return await shaped(this.t.call('wallet', m, hex), m, (r) => {
      const x = obj(r, 'result');
      const errors = x.errors;
      if (errors !== undefined && !Array.isArray(errors)) throw badField('errors', errors);
      return defined({
        hex: str(x.hex, 'hex'),
        complete: bool(x.complete, 'complete'),
        errors: errors as unknown[] | undefined,
      });
    });
  }

  async testMempoolAccept(hex: string, maxFeeRateBtcKvb?: number) {
    const params: unknown[] = [[hex]];
    if (maxFeeRateBtcKvb !== undefined) {
      need(Number.isFinite(maxFeeRateBtcKvb) && maxFeeRateBtcKvb >= 0, 'maxFeeRateBtcKvb');
      params.push(maxFeeRateBtcKvb);
    }
    const m = 'testmempoolaccept';
    return await shaped(this.t.call('node', m, ...params), m, (r) => {
      if (!Array.isArray(r) || r.length !== 1) throw badField('result', r);
      const x = obj(r[0], 'result[0]');
      const fees = optional(x.fees, obj, 'fees');
      // `vsize` is deprecated on current master in favour of vsize_adjusted / vsize_bip141.
      const vsize = optional(x.vsize ?? x.vsize_adjusted ?? x.vsize_bip141, int, 'vsize');
      return defined({
        txid: str(x.txid, 'txid'),
        allowed: bool(x.allowed, 'allowed'),
        vsize,
        feeSats: fees ? optional(fees.base, btcToSats, 'fees.base') : undefined,
        rejectReason: optional(x['reject-reason'], str, 'reject-reason'),
      });
    });
  }

  async sendRawTransaction(hex: string, maxFeeRateBtcKvb?: number) {
    const params: unknown[] = [hex];
    if (maxFeeRateBtcKvb !== undefined) {
      need(Number.isFinite(maxFeeRateBtcKvb) && maxFeeRateBtcKvb >= 0, 'maxFeeRateBtcKvb');
      params.push(maxFeeRateBtcKvb);
    }
    const m = 'sendrawtransaction';
    return await shaped(this.t.call('node', m, ...params), m, (r) => str(r, 'result'));
  }

  async bumpFee(txid: string, feeRateSatVb: number, dataHex?: string) {
    need(HEX32.test(txid), 'txid');
    if (dataHex !== undefined) need(HEX32.test(dataHex), 'data (32 bytes of hex)');
    const m = 'bumpfee';
    const options = { fee_rate: satVb(feeRateSatVb, 'feeRateSatVb'), ...(dataHex !== undefined ? { outputs: [{ data: dataHex }] } : {}) };
    return await shaped(this.t.call('wallet', m, txid, options), m, (r) => {
      const x = obj(r, 'result');
      return {
        txid: str(x.txid, 'txid'),
        origFeeSats: btcToSats(x.origfee, 'origfee'),
        feeSats: btcToSats(x.fee, 'fee'),
      };
    });
  }

  async getTransaction(txid: string) {
    need(HEX32.test(txid), 'txid');
    const m = 'gettransaction';
    return await shaped(this.t.call('wallet', m, txid), m, (r) => {
      const x = obj(r, 'result');
      return defined({
        confirmations: int(x.confirmations, 'confirmations'),
        blockhash: optional(x.blockhash, str, 'blockhash'),
        blockheight: optional(x.blockheight, int, 'blockheight'),
        blockindex: optional(x.blockindex, int, 'blockindex'),
        replacedByTxid: optional(x.replaced_by_txid, str, 'replaced_by_txid'),
        walletconflicts: x.walletconflicts === undefined ? [] : strArray(x.walletconflicts, 'walletconflicts'),
        hex: str(x.hex, 'hex'),
      });
    });
  }

  async getBalanceSats() {
    const m = 'getbalances';
    return await shaped(this.t.call('wallet', m), m, (r) => {
      const mine = obj(obj(r, 'result').mine, 'mine');
      return {
        trustedSats: btcToSats(mine.trusted, 'mine.trusted'),
        pendingSats: btcToSats(mine.untrusted_pending, 'mine.untrusted_pending'),
      };
    });
  }
}
