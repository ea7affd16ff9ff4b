// What immutalog reads of the chain: block headers (verify: works on a pruned node, no txindex,
// no wallet), whether an anchor's chain output is spent (the UTXO set, also on a pruned node),
// and, to follow a spend, whole blocks and the mempool; for the anchorer also the tip height and
// a block's txids. Node-level calls only, so a connection without a wallet serves all of them.

import { HEX32, need } from './args.js';
import { badField, btcToSats, defined, int, obj, optional, shaped, str, strArray } from './reply.js';
import { openTransport, type BitcoinRpcConfig, type RpcTransport } from './transport.js';

export interface ChainReader {
  getBlockHeader(hash: string): Promise<{
    hash: string;
    height: number;
    /** -1 once the block has left the best chain. */
    confirmations: number;
    merkleroot: string;
    time: number;
    previousblockhash?: string;
  }>;
  /** The 80-byte header as 160 hex digits. */
  getBlockHeaderHex(hash: string): Promise<string>;
  /** `getblock hash 1` → `tx`: txids in display order, in block order. */
  getBlockTxids(hash: string): Promise<string[]>;
  getBlockCount(): Promise<number>;
  /** `gettxout txid vout true`: the output if unspent (the mempool's spends count), else undefined. */
  getTxOut(txid: string, vout: number): Promise<{ valueSats: number; confirmations: number } | undefined>;
  /** `gettxspendingprevout`: the mempool transaction spending the output, if any. */
  getMempoolSpender(txid: string, vout: number): Promise<string | undefined>;
  /** `getblock hash 2`: each transaction's txid, inputs and raw hex, and the next block of the best chain. */
  getBlockTransactions(hash: string): Promise<{ height: number; confirmations: number; nextblockhash?: string; tx: BlockTx[] }>;
  /** `getrawtransaction txid`: the raw hex (a mempool transaction, or any with -txindex). */
  getRawTransactionHex(txid: string): Promise<string>;
}

export interface BlockTx {
  txid: string;
  /** The outputs it spends (none for the coinbase). */
  spends: { txid: string; vout: number }[];
  hex: string;
}

/** A reader over its own connection (verify's `--bitcoin-rpc`). */
export function connectChainReader(cfg: BitcoinRpcConfig): ChainReader {
  return new BitcoindReader(openTransport(cfg));
}

export class BitcoindReader implements ChainReader {
  constructor(protected readonly t: RpcTransport) {}

  async getBlockHeader(hash: string) {
    need(HEX32.test(hash), 'block hash');
    const m = 'getblockheader';
    return await shaped(this.t.call('node', m, hash), m, (r) => {
      const x = obj(r, 'result');
      return defined({
        hash: str(x.hash, 'hash'),
        height: int(x.height, 'height'),
        confirmations: int(x.confirmations, 'confirmations'),
        merkleroot: str(x.merkleroot, 'merkleroot'),
        time: int(x.time, 'time'),
        previousblockhash: optional(x.previousblockhash, str, 'previousblockhash'),
      });
    });
  }

  async getBlockHeaderHex(hash: string) {
    need(HEX32.test(hash), 'block hash');
    const m = 'getblockheader';
    return await shaped(this.t.call('node', m, hash, false), m, (r) => {
      const h = str(r, 'result');
      if (!/^[0-9a-f]{160}$/i.test(h)) throw badField('header hex', r);
      return h;
    });
  }

  async getBlockTxids(hash: string) {
    need(HEX32.test(hash), 'block hash');
    const m = 'getblock';
    return await shaped(this.t.call('node', m, hash, 1), m, (r) => strArray(obj(r, 'result').tx, 'tx'));
  }

  async getBlockCount() {
    const m = 'getblockcount';
    return await shaped(this.t.call('node', m), m, (r) => int(r, 'result'));
  }

  async getTxOut(txid: string, vout: number) {
    need(HEX32.test(txid), 'txid');
    need(Number.isInteger(vout) && vout >= 0, 'vout');
    const m = 'gettxout';
    return await shaped(this.t.call('node', m, txid, vout, true), m, (r) => {
      // Core answers null for a spent (or never seen) output.
      if (r === null || r === undefined) return undefined;
      const x = obj(r, 'result');
      return { valueSats: btcToSats(x.value, 'value'), confirmations: int(x.confirmations, 'confirmations') };
    });
  }

  async getMempoolSpender(txid: string, vout: number) {
    need(HEX32.test(txid), 'txid');
    need(Number.isInteger(vout) && vout >= 0, 'vout');
    const m = 'gettxspendingprevout';
    return await shaped(this.t.call('node', m, [{ txid, vout }]), m, (r) => {
      if (!Array.isArray(r) || r.length !== 1) throw badField('result', r);
      return optional(obj(r[0], 'result[0]').spendingtxid, str, 'spendingtxid');
    });
  }

  async getBlockTransactions(hash: string) {
    need(HEX32.test(hash), 'block hash');
    const m = 'getblock';
    return await shaped(this.t.call('node', m, hash, 2), m, (r) => {
      const x = obj(r, 'result');
      if (!Array.isArray(x.tx)) throw badField('tx', x.tx);
      const tx: BlockTx[] = x.tx.map((t, i) => {
        const o = obj(t, `tx[${i}]`);
        if (!Array.isArray(o.vin)) throw badField(`tx[${i}].vin`, o.vin);
        const spends = o.vin.flatMap((v, j) => {
          const input = obj(v, `tx[${i}].vin[${j}]`);
          return input.coinbase !== undefined ? [] : [{ txid: str(input.txid, 'vin.txid'), vout: int(input.vout, 'vin.vout') }];
        });
        return { txid: str(o.txid, 'txid'), spends, hex: str(o.hex, 'hex') };
      });
      return defined({ height: int(x.height, 'height'), confirmations: int(x.confirmations, 'confirmations'), nextblockhash: optional(x.nextblockhash, str, 'nextblockhash'), tx });
    });
  }

  async getRawTransactionHex(txid: string) {
    need(HEX32.test(txid), 'txid');
    const m = 'getrawtransaction';
    return await shaped(this.t.call('node', m, txid), m, (r) => str(r, 'result'));
  }
}
