// What immutalog reads of the chain: block headers (verify: works on a pruned node, no txindex,
// no wallet), and for the anchorer also the tip height and a block's txids. Node-level calls
// only, so a connection without a wallet serves all of them.

import { HEX32, need } from './args.js';
import { badField, defined, int, obj, optional, shaped, str, strArray } from './reply.js';
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
}
