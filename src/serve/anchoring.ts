import type { DaemonLogger } from './daemon-log.js';
import type { ServeConfig } from '../config/load.js';
import { Anchorer, type AnchorStatus } from '../anchor/anchorer.js';
import { connectAnchorNode } from '../bitcoind/writer.js';
import { LogStore } from '../store/log-store.js';

/** The anchorer, when a node is configured, with its own SQLite connection for the few anchor writes. */
export class Anchoring {
  private constructor(
    private readonly anchorer: Anchorer,
    private readonly store: LogStore,
  ) {}

  /** Starts anchoring, or says it is off (no node configured) and returns undefined. */
  static start(cfg: ServeConfig, database: string, log: DaemonLogger): Anchoring | undefined {
    if (cfg.bitcoinRpcUrl === '') {
      log.warn('anchoring is off (no [bitcoin] rpc_url): checkpoints are signed but not anchored in Bitcoin');
      return undefined;
    }
    const rpc = connectAnchorNode({
      url: cfg.bitcoinRpcUrl,
      wallet: cfg.bitcoinWallet,
      ...(cfg.bitcoinCookieFile ? { cookieFile: cfg.bitcoinCookieFile } : { user: cfg.bitcoinUser, password: cfg.bitcoinPassword }),
    });
    const store = LogStore.open(database, { create: false });
    const anchorer = new Anchorer(rpc, store, {
      intervalSec: cfg.anchorIntervalSec, confTarget: cfg.anchorConfTarget, fallbackFeeRate: cfg.anchorFallbackFeeRate,
      maxFeeRate: cfg.anchorMaxFeeRate, maxFeeSats: cfg.anchorMaxFee, finalConfirmations: cfg.anchorFinalConfirmations,
      stuckBlocks: cfg.anchorStuckBlocks, pollSec: cfg.anchorPollSec,
    }, log);
    anchorer.start();
    return new Anchoring(anchorer, store);
  }

  /** A copy: the status file and the metrics page serialise it later. */
  get status(): AnchorStatus {
    return { ...this.anchorer.status };
  }

  /** The control socket's anchor-now request: one round now, and what it built. */
  async roundNow(): Promise<unknown> {
    const a = await this.anchorer.roundNow();
    return a ? { anchor: a.id, txid: a.txid, checkpoints: a.tree_size, fee_sats: a.fee_sats, fee_rate: a.fee_rate, vsize: a.vsize, state: a.state } : { anchor: null, message: 'no checkpoint is waiting to be anchored' };
  }

  async stop(): Promise<void> {
    await this.anchorer.stop();
    this.store.close();
  }
}
